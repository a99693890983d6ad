"""Sinks for analytics output (plain classes; no Ray needed)."""

from pipeline.sinks.base import Sink
from pipeline.sinks.parquet import FlushResult, ParquetSink, ParquetSinkConfig, SinkError

__all__ = ["FlushResult", "ParquetSink", "ParquetSinkConfig", "Sink", "SinkError"]
