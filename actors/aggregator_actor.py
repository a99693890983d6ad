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
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import ray
from ray.util import metrics

from actors.alert_link import AlertLink
from actors.plugin_deadline import interrupt_after
from pipeline.alerts.feed import AlertFeed
from pipeline.analytics.aggregator import Aggregator, AggregatorSnapshot
from pipeline.analytics.config import (
    AnalyticsConfig,
    ContinuityConfig,
    HeatmapConfig,
    LineConfig,
    ZoneConfig,
)
from pipeline.analytics.events import ClosedWindow, Event
from pipeline.analytics.classes import ClassColumns
from pipeline.analytics.geometry import CameraGeometry, PolygonSet, SegmentSet
from pipeline.dashboard.history import HISTORY_HORIZON_S, HISTORY_MAX_WINDOWS, WindowHistory
from pipeline.dashboard.stills import EncodedImage, Stills
from pipeline.errors import InputError
from pipeline.sinks import SinkConfig, Sinks
from pipeline.sinks.checkpoint import (
    HOLDER_WAIT_S,
    drop_checkpoint,
    hold,
    holder_path,
    load_checkpoint,
)
from pipeline.sinks.checkpoint_writer import CheckpointWriter
from pipeline.sinks.incidents import FailureBook
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)

AGGREGATOR_NUM_CPUS = 0.25
"""Logical CPUs reserved per aggregator actor: analytics are cheap (well over 20k track
updates/s on one core), so several aggregators and trackers can share a core."""

FROZEN_STATE = (AnalyticsConfig, ZoneConfig, LineConfig, HeatmapConfig, ContinuityConfig,
                CameraGeometry, PolygonSet, SegmentSet, ClassColumns)
"""Immutable types of the analytics state (configs and what is resolved from them, frozen
models and dataclasses): checkpoints pickle each instance once. The zones' and lines' own
references to the geometry count here (15 arrays a camera), and so do the windows' own
references to the zones' and lines' configs (about 700 pickle opcodes a camera with 5
zones and 5 lines), not pickled again every save."""

class SinkMetrics:
    """The sinks' state as Ray metrics: output paused by a full disk, rows dropped."""

    def __init__(self) -> None:
        self.paused = metrics.Gauge("panoray_sink_paused",
                                    "1 while output is paused because the disk is full.")
        self.buffered = metrics.Gauge("panoray_sink_buffered_rows",
                                      "Rows waiting in memory to be written.")
        self.dropped = metrics.Counter("panoray_sink_dropped_rows_total",
                                       "Rows dropped while the disk stayed full.")
        self._dropped = 0

    def export(self, health: dict) -> None:
        self.paused.set(1.0 if health["paused"] else 0.0)
        self.buffered.set(float(health["buffered_rows"]))
        if health["dropped_rows"] > self._dropped:
            self.dropped.inc(health["dropped_rows"] - self._dropped)
            self._dropped = health["dropped_rows"]


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
        checkpoint: where this aggregator keeps its checkpoint (see
            :mod:`pipeline.sinks.checkpoint`), or None for none. An existing checkpoint
            is restored: this aggregator replaces one that died.
        checkpoint_s: media seconds of any camera between checkpoints (snapshots taken
            on the update path, written by a writer thread: see
            :mod:`pipeline.sinks.checkpoint_writer`); state is also saved, on the disk
            before going on, before every write, with the files' names fixed (see
            :mod:`pipeline.sinks.pending`), so a replacement writes a file again under its
            name, never a row twice.
        labels: the model's class names by class id (zones and lines name classes); None
            when every track is a person.
        restored_why: the incident recorded for each camera restored from the checkpoint
            (what was lost: this aggregator, or the whole run that is resumed).
    """

    def __init__(
        self,
        sinks: Sequence[SinkConfig] = (),
        run_id: str | None = None,
        history_s: float = HISTORY_HORIZON_S,
        history_max_windows: int = HISTORY_MAX_WINDOWS,
        checkpoint: str | None = None,
        checkpoint_s: float = 2.0,
        alerts: Any = None,
        alert_feed: AlertFeed | None = None,
        labels: dict[int, str] | None = None,
        restored_why: str = "aggregator restarted",
    ) -> None:
        self._run_id = run_id or ""
        self._analytics = Aggregator(labels, clock=time.perf_counter,  # plugins' max_busy_s
                                     deadline=interrupt_after)
        self._sinks = Sinks(sinks, run_id)
        self._stills = Stills()
        self._history = WindowHistory(history_s, history_max_windows)
        self._alerts = AlertLink(alerts, alert_feed)
        self._failures = FailureBook()
        self._last_pts: dict[str, float] = {}  # per camera, media time of its last frame
        self._last_index: dict[str, int] = {}  # ... and its frame_index
        self._saved_pts: dict[str, float] = {}  # ... at the last checkpoint (or its first)
        # Cameras removed with their windows written, for a run that resumes this one
        # (pipeline.sinks.resume): one id per camera the run removed.
        self._done: set[str] = set()
        self._lanes: dict[str, bytes] = {}  # per camera, its newest lane (see update)
        self._unsaved = False  # the last waited save failed: save again at the next update
        self._writer = (CheckpointWriter(Path(checkpoint), FROZEN_STATE) if checkpoint
                        else None)
        self._checkpoint_s = checkpoint_s
        self._incident_root = Path(sinks[0].root) if sinks else None
        self._restored: dict[str, float | None] = {}
        self._closed = False
        self._metrics = SinkMetrics()
        self._holder: int | None = None
        if self._writer is not None:  # the aggregator it replaces is dead, or waited for
            self._holder = hold(holder_path(self._writer.path), HOLDER_WAIT_S)
            self._restore(load_checkpoint(self._writer.path), restored_why)
            self._sinks.on_seal(self._save)
        # A graceful actor exit (ray.actor.exit_actor, __ray_terminate__, and the exit of
        # every actor of a controller that died) runs atexit.
        atexit.register(self._on_exit)

    def ready(self) -> bool:
        """Returns True once the actor is constructed (for ``ray.get`` on start-up)."""
        return True

    def restored(self) -> dict[str, float | None]:
        """Cameras restored from the checkpoint, each with the media time of the last
        frame it holds (None: no frame yet); empty for a new aggregator."""
        return dict(self._restored)

    def lane(self, camera_id: str) -> bytes | None:
        """The camera's newest tracker lane (pickled; see :meth:`update`), or None: what a
        tracker re-created for a file camera goes on from (``TrackerActor.add_camera``)."""
        return self._lanes.get(camera_id)

    def add_camera(self, camera_id: str, config: AnalyticsConfig,
                   geometry_version: int = 0) -> None:
        """Adds a camera; its analytics start with its first frame."""
        self._analytics.add_camera(camera_id, config, geometry_version)
        self._alerts.add_camera(camera_id)
        self._save()

    def remove_camera(self, camera_id: str) -> int:
        """Stops a camera, closing and writing its open windows; returns how many."""
        # its crossings since its last sample
        self._alerts.send_final(self._analytics.camera_snapshot, {camera_id})
        windows = self._analytics.remove_camera(camera_id)
        self._done.add(camera_id)  # in the checkpoint that names its windows' files
        self._alerts.remove_camera(camera_id)
        self._publish([], windows)
        self._sinks.flush()
        self._stills.drop(camera_id)
        self._history.drop_camera(camera_id)
        self._failures.drop_camera(camera_id)
        self._last_pts.pop(camera_id, None)
        self._last_index.pop(camera_id, None)
        self._saved_pts.pop(camera_id, None)
        self._lanes.pop(camera_id, None)
        self._save()
        return len(windows)

    def idle(self, camera_ids: list[str], wall_s: float, final: bool = False) -> int:
        """Live cameras here that are down (no frame by wall time ``wall_s``): writes the
        windows their media time has passed (see :meth:`Aggregator.idle`; ``final``: they
        are being stopped); returns how many."""
        windows = [w for cid in camera_ids for w in self._analytics.idle(cid, wall_s, final)]
        if windows:
            self._publish([], windows)
            self._save(wait=False)
        return len(windows)

    def set_alerts(self, alerts: Any) -> int:
        """The run's alerts actor was re-created: samples go to ``alerts``, the last
        ones with crossings again first (see :mod:`actors.alert_link`); returns how many."""
        return self._alerts.replace(alerts)

    def set_geometry(self, camera_id: str, config: AnalyticsConfig, version: int) -> None:
        """Replaces a camera's zones and lines from its next window boundary on (see
        :meth:`~pipeline.analytics.aggregator.Aggregator.set_geometry`)."""
        self._analytics.set_geometry(camera_id, config, version)
        self._save()

    def record_failure(self, camera_id: str, kind: str) -> None:
        """Something upstream of the camera's analytics died (``kind`` says what): the
        windows that span the gap, up to its next frame, are written incomplete (saved at
        once: the gap is recorded even if this aggregator dies next)."""
        self._failures.record(camera_id, kind, self._last_pts.get(camera_id), time.time())
        self._save()

    def update(self, frames: list[TrackedFrame], lane: bytes | None = None) -> list[Event]:
        """Feeds frames in order; returns their events (also sent to the sinks). ``lane``:
        the frames are one camera's, and its tracker's lane (pickled) has released them
        and nothing after: kept in the checkpoints, for a resumed run to go on from
        (:mod:`pipeline.sinks.resume`).

        Raises:
            InputError: after the batch, when any frame failed; names how many and the
                first failure (the others were processed).
        """
        closed = []
        known = set(self._analytics.camera_ids)
        if lane is not None and frames and frames[-1].meta.camera_id in known:
            self._lanes[frames[-1].meta.camera_id] = lane
        frames = self._first_time(frames)
        for frame in frames:
            cid = frame.meta.camera_id
            if cid in known:
                pts = frame.meta.pts_s
                self._last_index[cid] = frame.meta.frame_index
                closed += self._failures.seen(cid, pts)
                self._last_pts[cid] = pts
                self._saved_pts.setdefault(cid, pts)  # its first frame starts its period
        self._seal_incidents(closed)  # in every checkpoint from now on; written below
        out = self._analytics.update(frames)
        self._publish(out.events, out.windows)
        # sampled, then checked by the run's alerts actor
        self._alerts.send(frames, out.events, self._analytics.camera_snapshot)
        # after the sinks' writes: a save waited for before one counts as this period's
        if closed or self._save_due(frames):  # closed gaps: their file is named first
            self._save(wait=bool(closed))
        self._write_incidents()
        self._metrics.export(self._sinks.health())
        if out.errors:
            raise InputError(f"{len(out.errors)} of {len(frames)} frames failed; first: "
                             f"{out.errors[0]}", "frames")
        return out.events

    def _first_time(self, frames: list[TrackedFrame]) -> list[TrackedFrame]:
        """``frames`` without those of a camera at or before the last frame it had here:
        a tracker re-created from a saved lane releases again frames that the dead one
        had sent (the same frames, with the same tracks), and the first copy counts."""
        last = dict(self._last_index)
        kept = []
        for frame in frames:
            meta = frame.meta
            if meta.frame_index > last.get(meta.camera_id, -1):
                kept.append(frame)
                last[meta.camera_id] = meta.frame_index
        if len(kept) < len(frames):
            logger.info("dropped %d frame(s) analysed before", len(frames) - len(kept))
        return kept

    def set_still(self, camera_id: str, still: npt.NDArray[np.uint8], blurred: bool) -> None:
        """Keeps a camera's newest still (already private, see :mod:`pipeline.privacy`);
        one of a camera not hosted here (removed meanwhile) is dropped."""
        if camera_id in self._analytics.camera_ids:
            self._stills.set(camera_id, still, blurred)

    def sink_health(self) -> dict:
        """Whether output is paused (a full disk), why, and rows buffered and dropped."""
        return self._sinks.health()

    def snapshot(self) -> AggregatorSnapshot:
        """The live state: occupancy now, counts so far, queue waits, open windows."""
        return self._analytics.snapshot()

    def flush(self) -> None:
        """Writes everything the sinks have buffered."""
        self._sinks.flush()

    def close(self) -> AggregatorSnapshot | None:
        """Clean shutdown: closes all windows early, writes them and closes the sinks,
        records the gaps no frame closed and deletes the checkpoint, unless it holds rows
        the sinks could not write (``output["kept_rows"]``: the next run on the output
        writes them, :mod:`pipeline.sinks.recovery`). Returns the last
        snapshot: the cameras' figures as they were, the totals and plugin errors with the
        windows just closed (None when already closed). Safe to call twice."""
        if self._closed:
            return None
        live = self._analytics.snapshot()
        self._alerts.send_final(self._analytics.camera_snapshot)
        self._publish([], self._analytics.close())
        self._sinks.close()
        self._seal_incidents(self._failures.open_gaps())
        self._save(closed=True)
        self._write_incidents()
        self._closed = True
        output = self._sinks.health()
        if self._writer is not None:
            self._writer.close()
            if output["buffered_rows"] and not self._unsaved:
                output["kept_rows"] = output["buffered_rows"]
                logger.error("%d output rows could not be written (%s); kept in %s: the next "
                             "run on this output writes them", output["buffered_rows"],
                             output["reason"], self._writer.path)
            else:
                drop_checkpoint(self._writer.path)
        if self._holder is not None:
            os.close(self._holder)
            self._holder = None
        return dataclasses.replace(self._analytics.snapshot(), cameras=live.cameras,
                                   output=output)

    def _on_exit(self) -> None:
        """The process exits without :meth:`close`: without a checkpoint, closes (writes
        every window); with one, saves it and leaves it, for the run that resumes or
        recovers this one (an aggregator whose controller died must not close its windows
        early and delete the state that goes on)."""
        if self._writer is None:
            self.close()
        elif not self._closed:
            self._save()
            self._writer.close()

    def _publish(self, events: list[Event], windows: list[ClosedWindow]) -> None:
        windows = self._failures.mark(windows)
        for w in windows:  # the same (suppressed) rows the sinks get, for the dashboard
            self._history.add(w)
        self._sinks.write(events, windows, self._stills.backgrounds())
        self._sinks.write_plugin_tables(self._analytics.pop_plugin_tables())

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

    # -- checkpoints ----------------------------------------------------------------------
    def _save_due(self, frames: list[TrackedFrame]) -> bool:
        """Whether a periodic save is due after ``frames``: a camera of theirs is
        ``checkpoint_s`` of media past the last save (only a frame moves a camera on, so
        the others are not looked at), or the last save failed (a waited one, or the
        writer thread's write)."""
        if self._writer is None:
            return False
        if self._unsaved or self._writer.failed:
            return True
        last, saved = self._last_pts, self._saved_pts
        return any(last[cid] - saved[cid] >= self._checkpoint_s
                   for cid in {f.meta.camera_id for f in frames}
                   if cid in last and cid in saved)

    def _save(self, wait: bool = True, closed: bool = False) -> None:
        """Checkpoints the state now; ``wait``: on the disk before this returns (before
        a sink writes the files it named, or after a failure is recorded), else written by
        the writer thread (the periodic saves). ``closed``: the last save of a clean close,
        whose windows are closed (kept only for rows the sinks could not write)."""
        if self._writer is None or self._closed:
            return
        # What a replacement needs to go on: not the dashboard's history (an hour of
        # closed windows, large and already in the metrics files) nor the stills (cameras
        # send them again).
        state = {"analytics": self._analytics, "sinks": self._sinks,
                 "failures": self._failures, "last_pts": self._last_pts,
                 "last_index": self._last_index, "done": self._done, "lanes": self._lanes,
                 "alerts": self._alerts.state(), "closed": closed}
        try:
            self._writer.save(state, wait)
        except OSError as exc:  # the previous checkpoint stays; tried again next time
            logger.error("checkpoint not saved: %s", exc)
            self._unsaved = True
            return
        self._unsaved = False
        self._saved_pts = dict(self._last_pts)

    def _restore(self, state: dict | None, why: str) -> None:
        if state is None:
            return
        self._analytics, self._sinks = state["analytics"], state["sinks"]
        self._failures = state["failures"]
        self._last_pts, self._last_index = state["last_pts"], state["last_index"]
        self._saved_pts = dict(self._last_pts)
        self._done, self._lanes = state.get("done", set()), state.get("lanes", {})
        self._alerts.restore(state.get("alerts"))
        self._restored = {cid: self._last_pts.get(cid) for cid in self._analytics.camera_ids}
        self._write_incidents()  # those the dead one sealed: written again, same names
        for cid in self._restored:
            self.record_failure(cid, why)
        logger.warning("aggregator restored from its checkpoint: cameras %s",
                       sorted(self._restored))

    def _seal_incidents(self, failures: list) -> None:
        """Fixes the name and rows of the incidents file of ``failures`` (gaps that
        closed, or that stay open at the end); :meth:`_write_incidents` writes it once a
        checkpoint names it (see :mod:`pipeline.sinks.incidents`)."""
        if failures and self._incident_root is not None:
            self._failures.seal(failures, self._incident_root, self._run_id)

    def _write_incidents(self) -> None:
        try:
            self._failures.write_sealed()
        except OSError as exc:  # stays sealed: written again with the next ones
            logger.error("could not record failures: %s", exc)
