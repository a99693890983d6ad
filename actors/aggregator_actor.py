"""The aggregator actor: a thin Ray shell around :class:`pipeline.analytics.aggregator.Aggregator`.

One actor hosts the analytics of many cameras (their state is small) and owns one sink.
All logic lives in the plain core; this module only adds Ray placement and a clean
shutdown path.

Example:
    >>> agg = AggregatorActor.remote(ParquetSinkConfig(root="/tmp/out"))   # doctest: +SKIP
    >>> ray.get(agg.add_camera.remote("cam1", {"lines": [...]}, 1920, 1080))  # doctest: +SKIP
    >>> agg.update.remote("cam1", meta, tracks, removed_ids)                # doctest: +SKIP
    >>> ray.get(agg.close.remote())                                         # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from pipeline.analytics.aggregator import Aggregator, AggregatorSnapshot
from pipeline.analytics.camera import TrackIds
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import ClosedWindow, Event
from pipeline.dashboard.history import HISTORY_HORIZON_S, HISTORY_MAX_WINDOWS
from pipeline.dashboard.images import EncodedImage
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from pipeline.types import FrameMeta, Tracks

logger = logging.getLogger(__name__)

AGGREGATOR_NUM_CPUS = 0.25
"""Logical CPUs reserved per aggregator actor: analytics are cheap (well over 20k track
updates/s on one core), so several aggregators and trackers can share a core."""


@ray.remote(num_cpus=AGGREGATOR_NUM_CPUS, max_restarts=0)
class AggregatorActor:
    """Hosts the analytics of many cameras and writes their output to a Parquet sink.

    Args:
        sink_config: where to write; None keeps closed windows in memory for
            :meth:`pop_closed_windows` (tests, live-only deployments).
        history_s, history_max_windows: bounds of the dashboard's per-camera history of
            closed windows (media seconds, windows).
    """

    def __init__(
        self,
        sink_config: ParquetSinkConfig | Mapping[str, Any] | None = None,
        history_s: float = HISTORY_HORIZON_S,
        history_max_windows: int = HISTORY_MAX_WINDOWS,
    ) -> None:
        sink = None
        if sink_config is not None:
            if not isinstance(sink_config, ParquetSinkConfig):
                sink_config = ParquetSinkConfig.model_validate(sink_config)
            sink = ParquetSink(sink_config)
        self._core = Aggregator(sink, history_s=history_s,
                                history_max_windows=history_max_windows)
        # A graceful actor exit (ray.actor.exit_actor, __ray_terminate__) runs atexit.
        atexit.register(self._core.close)

    def ready(self) -> bool:
        """Returns True once the actor is constructed (for ``ray.get`` on start-up)."""
        return True

    def add_camera(
        self,
        camera_id: str,
        config: AnalyticsConfig | Mapping[str, Any],
        width: int,
        height: int,
    ) -> None:
        """Starts the analytics of a camera of ``width`` x ``height`` pixels."""
        self._core.add_camera(camera_id, config, width, height)

    def remove_camera(self, camera_id: str) -> int:
        """Stops a camera, closing and writing its open windows; returns how many."""
        return len(self._core.remove_camera(camera_id))

    def update(
        self, camera_id: str, meta: FrameMeta, tracks: Tracks, removed_ids: TrackIds = ()
    ) -> list[Event]:
        """Feeds one frame's tracks; returns the events it produced (also written)."""
        return self._core.update(camera_id, meta, tracks, removed_ids)

    def update_batch(
        self, camera_id: str, frames: Sequence[tuple[FrameMeta, Tracks, TrackIds]]
    ) -> list[Event]:
        """Feeds several frames of one camera in order."""
        return self._core.update_batch(camera_id, frames)

    def set_still(
        self,
        camera_id: str,
        frame_bgr: npt.NDArray[np.uint8],
        person_boxes: npt.ArrayLike,
        blur: bool = True,
    ) -> None:
        """Sets a camera's heatmap background; people in it are pixelated first."""
        self._core.set_still(camera_id, frame_bgr, person_boxes, blur)

    def snapshot(self) -> AggregatorSnapshot:
        """Returns the live state: occupancy now, counts so far, queue waits, open windows."""
        return self._core.snapshot()

    def pop_closed_windows(self) -> list[ClosedWindow]:
        """Without a sink: returns and forgets the windows closed so far."""
        return self._core.pop_closed_windows()

    def flush(self) -> None:
        """Writes everything the sink has buffered."""
        self._core.flush()

    def close(self) -> None:
        """Clean shutdown: closes all windows early, writes them and closes the sink."""
        self._core.close()

    # -- dashboard reads (images are encoded here: only blurred stills ever reach this actor,
    # unless the operator set privacy.blur_people: false) --------------------------------
    def still_infos(self) -> dict[str, dict[str, Any]]:
        """Per camera with a still: its ETag, blurred flag and size in pixels."""
        return self._core.still_infos()

    def still_image(self, camera_id: str, if_none_match: str | None = None) -> EncodedImage | None:
        """A camera's latest people-blurred still as JPEG (no data when ``if_none_match``
        names its ETag), or None when it has none yet."""
        return self._core.still_image(camera_id, if_none_match)

    def heatmap_image(
        self, camera_id: str, if_none_match: str | None = None
    ) -> EncodedImage | None:
        """A camera's open-window heatmap as PNG over its blurred still, or None."""
        return self._core.heatmap_image(camera_id, if_none_match)

    def history(self, camera_id: str | None = None) -> dict[str, tuple[ClosedWindow, ...]]:
        """Closed windows of the last ``history_s`` media seconds per camera (suppressed
        rows nulled, no heatmaps)."""
        return self._core.history(camera_id)

    def history_s(self) -> float:
        """Span of :meth:`history`, media seconds."""
        return self._core.history_s
