"""Anonymous flow analytics of tracked people: zones, lines, queues, heatmaps, windows.

Plain classes with no Ray dependency; :class:`CameraAnalytics` combines them for one
camera and :class:`Aggregator` hosts many cameras (the aggregator actor wraps it).
All geometry uses a box's bottom centre and all timing uses media time (``pts_s``).
"""

from pipeline.analytics.aggregator import Aggregator, AggregatorSnapshot, AnalyticsOutput
from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig, HeatmapConfig, LineConfig, ZoneConfig
from pipeline.analytics.events import (
    EVENTS_SCHEMA,
    METRICS_SCHEMA,
    CameraSnapshot,
    ClosedWindow,
    Event,
    HeatmapGrid,
    LineSnapshot,
    QueueStatus,
    WindowMetrics,
    ZoneSnapshot,
    events_to_table,
    metrics_to_table,
)
from pipeline.analytics.heatmap import render_heatmap

__all__ = [
    "EVENTS_SCHEMA",
    "METRICS_SCHEMA",
    "Aggregator",
    "AggregatorSnapshot",
    "AnalyticsConfig",
    "AnalyticsOutput",
    "CameraAnalytics",
    "CameraSnapshot",
    "ClosedWindow",
    "Event",
    "HeatmapConfig",
    "HeatmapGrid",
    "LineConfig",
    "LineSnapshot",
    "QueueStatus",
    "WindowMetrics",
    "ZoneConfig",
    "ZoneSnapshot",
    "events_to_table",
    "metrics_to_table",
    "render_heatmap",
]
