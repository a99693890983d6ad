"""The aggregator actor: hosts the analytics of many cameras, their sinks and their stills.

A thin Ray shell that composes three plain pieces: :class:`~pipeline.analytics.Aggregator`
(the analytics), :class:`~pipeline.sinks.Sinks` (where events and closed windows go) and
the dashboard's side (:class:`~pipeline.dashboard.stills.Stills`, each camera's latest
still; :class:`~pipeline.dashboard.history.WindowHistory`, its closed windows). Trackers
send it :class:`~pipeline.types.TrackedFrame` s; cameras send it their private stills.

Example:
    >>> agg = AggregatorActor.remote([ParquetSinkConfig(root="/tmp/out")])  # doctest: +SKIP
    >>> ray.get(agg.add_camera.remote("cam1", AnalyticsConfig(lines=[...])))  # doctest: +SKIP
    >>> agg.update.remote([tracked_frame, ...])                              # doctest: +SKIP
    >>> ray.get(agg.close.remote())                                          # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from pipeline.alerts.feed import AlertFeed
from pipeline.analytics.aggregator import Aggregator, AggregatorSnapshot
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import ClosedWindow, Event
from pipeline.dashboard.history import HISTORY_HORIZON_S, HISTORY_MAX_WINDOWS, WindowHistory
from pipeline.dashboard.stills import EncodedImage, Stills
from pipeline.errors import InputError
from pipeline.sinks import SinkConfig, Sinks
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)

AGGREGATOR_NUM_CPUS = 0.25
"""Logical CPUs reserved per aggregator actor: analytics are cheap (well over 20k track
updates/s on one core), so several aggregators and trackers can share a core."""


@ray.remote(num_cpus=AGGREGATOR_NUM_CPUS, max_restarts=0)
class AggregatorActor:
    """Hosts the analytics of many cameras and sends their output to sinks.

    Args:
        sinks: where events and closed windows go (none: only the dashboard's history
            keeps closed windows).
        run_id: the pipeline run's id, written by the sinks beside every track id.
        history_s, history_max_windows: bounds of the dashboard's per-camera history of
            closed windows (media seconds, windows).
        alerts: the run's alerts actor, or None without alert rules.
        alert_feed: samples the observations the rules read (with ``alerts``).
    """

    def __init__(
        self,
        sinks: Sequence[SinkConfig] = (),
        run_id: str | None = None,
        history_s: float = HISTORY_HORIZON_S,
        history_max_windows: int = HISTORY_MAX_WINDOWS,
        alerts: Any = None,
        alert_feed: AlertFeed | None = None,
    ) -> None:
        self._analytics = Aggregator()
        self._sinks = Sinks(sinks, run_id)
        self._stills = Stills()
        self._history = WindowHistory(history_s, history_max_windows)
        self._alerts = alerts
        self._feed = alert_feed if alerts is not None else None
        # A graceful actor exit (ray.actor.exit_actor, __ray_terminate__) runs atexit.
        atexit.register(self.close)

    def ready(self) -> bool:
        """Returns True once the actor is constructed (for ``ray.get`` on start-up)."""
        return True

    def add_camera(self, camera_id: str, config: AnalyticsConfig) -> None:
        """Adds a camera; its analytics start with its first frame."""
        self._analytics.add_camera(camera_id, config)
        if self._feed is not None:
            self._feed.add_camera(camera_id)

    def remove_camera(self, camera_id: str) -> int:
        """Stops a camera, closing and writing its open windows; returns how many."""
        windows = self._analytics.remove_camera(camera_id)
        if self._feed is not None:
            self._feed.remove_camera(camera_id)
        self._publish([], windows)
        self._sinks.flush()
        self._stills.drop(camera_id)
        self._history.drop_camera(camera_id)
        return len(windows)

    def update(self, frames: list[TrackedFrame]) -> list[Event]:
        """Feeds frames in order; returns their events (also sent to the sinks).

        Raises:
            InputError: after the batch, when any frame failed; names how many and the
                first failure (the others were processed).
        """
        out = self._analytics.update(frames)
        self._publish(out.events, out.windows)
        if self._feed is not None:  # sampled, then checked by the run's alerts actor
            observations = self._feed.collect(frames, out.events,
                                              self._analytics.camera_snapshot)
            if observations:
                self._alerts.observe.remote(observations)
        if out.errors:
            raise InputError(f"{len(out.errors)} of {len(frames)} frames failed; first: "
                             f"{out.errors[0]}", "frames")
        return out.events

    def set_still(self, camera_id: str, still: npt.NDArray[np.uint8], blurred: bool) -> None:
        """Keeps a camera's newest still (already private, see :mod:`pipeline.privacy`);
        one of a camera not hosted here (removed meanwhile) is dropped."""
        if camera_id in self._analytics.camera_ids:
            self._stills.set(camera_id, still, blurred)

    def snapshot(self) -> AggregatorSnapshot:
        """The live state: occupancy now, counts so far, queue waits, open windows."""
        return self._analytics.snapshot()

    def flush(self) -> None:
        """Writes everything the sinks have buffered."""
        self._sinks.flush()

    def close(self) -> None:
        """Clean shutdown: closes all windows early, writes them and closes the sinks."""
        self._publish([], self._analytics.close())
        self._sinks.close()

    def _publish(self, events: list[Event], windows: list[ClosedWindow]) -> None:
        self._sinks.write(events, windows, self._stills.backgrounds())
        for w in windows:  # the same (suppressed) rows the sinks get, for the dashboard
            self._history.add(w)

    # -- dashboard reads ------------------------------------------------------------------
    def still_infos(self) -> dict[str, dict]:
        """Per camera with a still: its ETag, blurred flag and size in pixels."""
        return self._stills.infos()

    def still_image(self, camera_id: str, if_none_match: str | None = None) -> EncodedImage | None:
        """A camera's latest still as JPEG (no data when ``if_none_match`` names its
        ETag), or None when it has none yet."""
        return self._stills.still_image(camera_id, if_none_match)

    def heatmap_image(self, camera_id: str, if_none_match: str | None = None
                      ) -> EncodedImage | None:
        """A camera's open-window heatmap as PNG over its still, or None."""
        return self._stills.heatmap_image(self._analytics.open_heatmap(camera_id), if_none_match)

    def history(self, camera_id: str | None = None) -> dict[str, tuple[ClosedWindow, ...]]:
        """Closed windows of the last ``history_s`` media seconds per camera, as published
        (suppressed rows nulled, no heatmaps); one camera's when given."""
        if camera_id is None:
            return self._history.all()
        kept = self._history.windows(camera_id)
        return {camera_id: kept} if kept or camera_id in self._analytics.camera_ids else {}

    def history_s(self) -> float:
        """Span of :meth:`history`, media seconds."""
        return self._history.horizon_s
