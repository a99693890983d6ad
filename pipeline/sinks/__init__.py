"""Sinks for analytics output (plain classes; no Ray needed), chosen by their ``type``."""

from pipeline.sinks.base import SINK_TYPES, Sink, SinkConfig, Sinks
from pipeline.sinks.parquet import FlushResult, ParquetSink, ParquetSinkConfig

__all__ = ["SINK_TYPES", "FlushResult", "ParquetSink", "ParquetSinkConfig", "Sink", "SinkConfig",
           "Sinks"]
