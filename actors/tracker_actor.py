"""The tracker stage as a Ray actor: a thin shell around :class:`CameraTrackers`.

One actor hosts the trackers of many cameras (tracking state is small); each camera has
its own tracker, config, clock and id counter. Frames of one camera must arrive in
order: a ``frame_index`` not after the camera's last one raises InputError naming the
camera. Errors reach the caller through ``ray.get`` as the original exception type.

In a pipeline the actor also passes each frame's tracks on, in order, to an aggregator
actor (``downstream``), adding a camera there with its frame size when its first frame
arrives; at most ``max_pending`` such calls are unconfirmed at once (backpressure).
With ``export_dir`` it writes every camera's tracks as MOTChallenge text.

Example:
    >>> tracker = TrackerActor.remote()
    >>> ray.get(tracker.add_camera.remote("door", {"lost_buffer_s": 2.0}))
    >>> tracks = ray.get(tracker.update.remote("door", frame_meta, detections))
    >>> placed = TrackerActor.options(num_cpus=0.5, name="trackers-0")  # callers may override
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from pipeline.errors import PanorayError
from pipeline.sinks.mot import MotTrackWriter
from pipeline.tracking.cameras import CameraTrackers, TrackUpdate
from pipeline.tracking.config import GapFillConfig
from pipeline.tracking.smoothing import GapFiller
from pipeline.tracking.splice import MediaSplice
from pipeline.types import Detections, FrameMeta, Tracks

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0.1)
class TrackerActor:
    """Tracks the detections of many cameras; see :class:`CameraTrackers` for semantics."""

    def __init__(
        self, downstream: Any = None, export_dir: str | None = None, max_pending: int = 64
    ) -> None:
        self._core = CameraTrackers()
        self._downstream = downstream
        self._analytics: dict[str, Any] = {}
        self._added: set[str] = set()
        self._analytics_errors: dict[str, str] = {}
        self._forward_errors = 0
        self._pending: deque[ray.ObjectRef] = deque()
        self._max_pending = max_pending
        self._export = MotTrackWriter(export_dir) if export_dir else None
        self._splices: dict[str, MediaSplice] = {}
        self._fillers: dict[str, GapFiller] = {}
        self._early_stills: dict[str, tuple[Any, Any, bool]] = {}
        self._carry_removed: dict[str, npt.NDArray[np.int64]] = {}

    def add_camera(
        self,
        camera_id: str,
        config: Mapping[str, Any] | None = None,
        analytics: Any = None,
        smoothing: GapFillConfig | Mapping[str, Any] | None = None,
        first_track_id: int = 1,
    ) -> None:
        """Starts tracking a camera; ``config`` holds TrackerConfig fields (defaults if None).

        Args:
            camera_id: the camera.
            config: its TrackerConfig fields, or None for defaults.
            analytics: its AnalyticsConfig (or dict) for the downstream aggregator, or None
                when its tracks go nowhere.
            smoothing: offline cameras: GapFillConfig of the smoother that joins broken
                tracks and fills short gaps before export and analytics; None: off.
            first_track_id: the camera's first track id: what :meth:`next_track_id` said
                when a camera of this id was last removed in this run, so that ids are
                never reused within a run.

        Raises:
            ConfigError: the camera is already tracked here, or the config is invalid.
        """
        self._core.add_camera(camera_id, config, first_track_id)
        self._splices[camera_id] = MediaSplice()
        if smoothing is not None:
            self._fillers[camera_id] = GapFiller(GapFillConfig.model_validate(smoothing))
        if analytics is not None:
            self._analytics[camera_id] = analytics

    def next_track_id(self, camera_id: str) -> int:
        """The id the camera's next confirmed track would get."""
        return self._core.next_id(camera_id)

    def remove_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Stops tracking a camera (and its analytics downstream, which writes its open
        windows); returns the (k,) int64 ids that were still live."""
        live = self._core.remove_camera(camera_id)
        self._release(camera_id, self._flush_filler(camera_id))
        self._fillers.pop(camera_id, None)
        self._early_stills.pop(camera_id, None)
        self._splices.pop(camera_id, None)
        self._carry_removed.pop(camera_id, None)
        self._settle_all()
        if camera_id in self._added:
            self._added.discard(camera_id)
            ray.get(self._downstream.remove_camera.remote(camera_id))
        self._analytics.pop(camera_id, None)
        self._analytics_errors.pop(camera_id, None)
        if self._export is not None:
            self._export.flush()
        return live

    def reset_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Drops a camera's tracks and frame order; returns the (k,) int64 ids dropped."""
        self._release(camera_id, self._flush_filler(camera_id))
        if camera_id in self._fillers:
            self._fillers[camera_id] = GapFiller(self._fillers[camera_id].config)
        return self._core.reset_camera(camera_id)

    def resume_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Prepares for a camera whose source actor was re-created (see
        :class:`MediaSplice`): its tracks are dropped (their ids are evicted downstream with
        the next frame; ids keep counting up), and its next frames continue its frame
        numbers and media time, so its analytics windows, heatmaps and track export go on
        without a reset. Returns the (k,) int64 ids dropped.

        Raises:
            InputError: the camera is not tracked here.
        """
        dropped = self._core.reset_camera(camera_id)
        self._splices[camera_id].splice()
        earlier = self._carry_removed.get(camera_id)
        if earlier is not None:
            dropped = np.union1d(earlier, dropped).astype(np.int64)
        self._carry_removed[camera_id] = dropped
        log.info("camera %s resumes from a new source actor (%d tracks dropped)",
                 camera_id, len(dropped))
        return dropped

    def cameras(self) -> list[str]:
        """The ids of the cameras tracked by this actor, sorted."""
        return self._core.cameras()

    def update(self, camera_id: str, frame_meta: FrameMeta, detections: Detections) -> Tracks:
        """Tracks one frame of one camera.

        Raises:
            InputError: unknown camera, out-of-order frame_index or media time; the
                message names the camera.
        """
        tracks, final = self._track(camera_id, frame_meta, detections)
        self._release(camera_id, final)
        return tracks

    def update_many(
        self, camera_id: str, frames: list[tuple[FrameMeta, Detections]]
    ) -> list[str | None]:
        """Tracks consecutive frames of one camera in one call (see :meth:`update`); the
        frames that become final go downstream together, in one call.

        A frame that fails does not stop the others. Returns, per frame, None or the
        error message of that frame (the message names the camera).
        """
        errors: list[str | None] = []
        final: list[tuple[FrameMeta, TrackUpdate]] = []
        for meta, detections in frames:
            try:
                final += self._track(camera_id, meta, detections)[1]
                errors.append(None)
            except PanorayError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        self._release(camera_id, final)
        return errors

    def _track(
        self, camera_id: str, frame_meta: FrameMeta, detections: Detections
    ) -> tuple[Tracks, list[tuple[FrameMeta, TrackUpdate]]]:
        """Steps the camera's tracker; returns the frame's tracks and the frames that are
        final now (the smoother, when on, holds frames back and releases them later)."""
        splice = self._splices.get(camera_id)
        if splice is not None:
            frame_meta = splice.map(frame_meta)
        update = self._core.step(camera_id, frame_meta, detections)
        carried = self._carry_removed.pop(camera_id, None)
        if carried is not None and len(carried):
            update = TrackUpdate(update.tracks,
                                 np.union1d(update.removed_ids, carried).astype(np.int64))
        filler = self._fillers.get(camera_id)
        if filler is None:
            return update.tracks, [(frame_meta, update)]
        return update.tracks, [
            (f.meta, TrackUpdate(f.tracks, f.removed_ids))
            for f in filler.push(frame_meta, update.tracks, update.removed_ids)
        ]

    def _release(self, camera_id: str, frames: list[tuple[FrameMeta, TrackUpdate]]) -> None:
        """Exports final frames and forwards them downstream in one call."""
        if not frames:
            return
        if self._export is not None:
            for meta, update in frames:
                self._export.write(meta, update.tracks)
        self._forward(camera_id, frames)

    def _flush_filler(self, camera_id: str) -> list[tuple[FrameMeta, TrackUpdate]]:
        filler = self._fillers.get(camera_id)
        if filler is None:
            return []
        return [(f.meta, TrackUpdate(f.tracks, f.removed_ids)) for f in filler.flush()]

    def _forward(self, camera_id: str, frames: list[tuple[FrameMeta, TrackUpdate]]) -> None:
        if self._downstream is None or camera_id not in self._analytics:
            return
        if camera_id in self._analytics_errors:
            return
        if camera_id not in self._added:
            try:
                ray.get(self._downstream.add_camera.remote(
                    camera_id, self._analytics[camera_id], frames[0][0].width,
                    frames[0][0].height
                ))
            except Exception as exc:  # noqa: BLE001 - reported per camera, never fatal
                reason = getattr(exc, "cause", None) or exc
                self._analytics_errors[camera_id] = str(reason)
                log.error("camera %s: analytics not started: %s", camera_id, reason)
                return
            self._added.add(camera_id)
            early = self._early_stills.pop(camera_id, None)
            if early is not None:
                self._pending.append(self._downstream.set_still.remote(camera_id, *early))
        self._pending.append(self._downstream.update_batch.remote(
            camera_id, [(m, u.tracks, u.removed_ids) for m, u in frames]))
        while len(self._pending) > self._max_pending:
            self._settle(self._pending.popleft())

    def _settle(self, ref: ray.ObjectRef) -> None:
        try:
            ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop tracking
            self._forward_errors += 1
            log.error("aggregator update failed: %s", exc)

    def _settle_all(self) -> None:
        while self._pending:
            self._settle(self._pending.popleft())

    def set_still(
        self, camera_id: str, still: npt.NDArray[np.uint8], boxes: npt.ArrayLike, blur: bool = True
    ) -> None:
        """Passes a camera's people-blurred still on to its aggregator (heatmap background);
        one that comes before the camera's first frame reached the aggregator (smoothing
        holds frames back) waits for it, the newest replacing older ones."""
        if self._downstream is None or camera_id not in self._analytics:
            return
        if camera_id in self._added:
            self._pending.append(self._downstream.set_still.remote(camera_id, still, boxes, blur))
        else:
            self._early_stills[camera_id] = (still, boxes, blur)

    def flush(self) -> dict[str, Any]:
        """Waits until every forwarded frame is processed downstream and writes the track
        export; frames held by smoothers are released first. Returns :meth:`stats`."""
        for camera_id in list(self._fillers):
            self._release(camera_id, self._flush_filler(camera_id))
        self._settle_all()
        if self._export is not None:
            self._export.flush()
        return self.stats()

    def step(self, camera_id: str, frame_meta: FrameMeta, detections: Detections) -> TrackUpdate:
        """Like :meth:`update`, also returning the ids deleted in this update (for eviction)."""
        return self._core.step(camera_id, frame_meta, detections)

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters, per camera and in total, plus forwarding health."""
        return {**self._core.stats(), "analytics_errors": dict(self._analytics_errors),
                "forward_errors": self._forward_errors, "forward_pending": len(self._pending),
                "smoothing": {cid: asdict(f.stats()) for cid, f in self._fillers.items()}}
