"""The tracker stage as a Ray actor: a thin shell around one :class:`CameraLane` per camera.

One actor hosts the lanes of many cameras (tracking state is small); each has its own
tracker, config, clock and id counter, so ids never depend on which cameras share a
worker process. A camera's actor sends its frames here in order, several at a time
(:meth:`TrackerActor.update`); the :class:`~pipeline.types.TrackedFrame` s its lane
releases go on, in order, to the camera's aggregator actor, at most ``max_pending``
calls unconfirmed at once (backpressure). With ``export_dir`` every camera's tracks are
also written as MOTChallenge text, as they are released.

Example:
    >>> tracker = TrackerActor.remote()                                   # doctest: +SKIP
    >>> ray.get(tracker.add_camera.remote("door", TrackerConfig(), None, agg))  # doctest: +SKIP
    >>> ray.get(tracker.update.remote([detected_frame]))                   # doctest: +SKIP
    [None]
"""

from __future__ import annotations

import itertools
import logging
import pickle
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from ray.exceptions import RayActorError

from actors.replay import ReplayBuffer
from pipeline.errors import ConfigError, InputError, PanorayError
from pipeline.mot import ExportStart, MotTrackWriter
from pipeline.tracking.config import SmoothingConfig, TrackerConfig
from pipeline.tracking.lane import CameraLane
from pipeline.types import DetectedFrame, TrackedFrame

log = logging.getLogger(__name__)

TRACKER_NUM_CPUS = 0.1
"""Logical CPUs reserved per tracker actor: tracking takes well under a millisecond a
frame, so trackers share a core with the aggregators."""


REMOVED_CAMERAS_KEPT = 256
"""Most ids of cameras removed from a tracker that it remembers: frames that still come
for one (from its camera's discarded actor, e.g. one re-created while the camera was
removed, not yet stopped) are dropped without an error, where a camera never added here
is an error."""

REPLAY_MAX_FRAMES = 20_000
"""Most frames per camera kept for replay to a re-created aggregator (bounds memory while
an aggregator is down)."""


@dataclass
class _Hosted:
    lane: CameraLane
    aggregator: Any  # actor handle, or None: the camera's tracks go nowhere
    replay: ReplayBuffer
    down: bool = False  # its aggregator died; frames wait in `replay` for a new one
    keep_lane: bool = False  # its lane goes to the aggregator's checkpoints
    lane_sent_pts: float | None = None  # media time of the frames it last went with


@ray.remote(num_cpus=TRACKER_NUM_CPUS)
class TrackerActor:
    """Tracks the frames of many cameras and forwards their tracks to their aggregators.

    Args:
        export_dir: directory for per-camera MOTChallenge track files, or None.
        max_pending: most unconfirmed aggregator calls before the next one waits.
        replay_s: media seconds of forwarded frames kept per camera behind the newest one
            its aggregator confirmed (with every frame not yet confirmed), so that a
            re-created aggregator gets again what came after its last checkpoint (see
            :meth:`set_aggregator`); more than twice the aggregator's ``checkpoint_s``.
        lane_every_s: media seconds between the lanes sent with a camera's frames to its
            aggregator (cameras added with ``keep_lane``), which keeps the newest, also in
            its checkpoint: a tracker that replaces this one and a resumed run
            (:mod:`pipeline.sinks.resume`) go on from it.
    """

    def __init__(self, export_dir: str | None = None, max_pending: int = 64,
                 replay_s: float = 10.0, lane_every_s: float = 2.0) -> None:
        self._lane_every_s = lane_every_s
        self._cameras: dict[str, _Hosted] = {}
        self._pending: deque[tuple[ray.ObjectRef, str, Any, float]] = deque()
        self._replay_s = replay_s
        self._max_pending = max_pending
        self._forward_errors = 0
        self._removed: OrderedDict[str, None] = OrderedDict()  # see REMOVED_CAMERAS_KEPT
        self._removed_frames = 0
        self._export = MotTrackWriter(export_dir) if export_dir else None

    def add_camera(
        self,
        camera_id: str,
        config: TrackerConfig | None = None,
        smoothing: SmoothingConfig | None = None,
        aggregator: Any = None,
        first_track_id: int = 1,
        export: ExportStart = "new",
        state: bytes | None = None,
        keep_lane: bool = False,
    ) -> None:
        """Starts tracking a camera.

        Args:
            camera_id: the camera.
            config: its tracker settings (defaults if None).
            smoothing: offline cameras: the smoother that joins broken tracks and fills
                short gaps before export and analytics; None: off.
            aggregator: the aggregator actor hosting its analytics, or None.
            first_track_id: what :meth:`next_track_id` said when a camera of this id was
                last removed in this run, so that ids are never reused within a run.
            export: how its track file begins (:data:`~pipeline.mot.ExportStart`): a
                tracker re-created in a run resumes the file its predecessor wrote.
            state: a saved lane of the camera (pickled; sent with its frames under
                ``keep_lane``, kept by its aggregator and in its checkpoints): tracking
                goes on from there, as if the frames after it came again (its camera's
                source is read again from :meth:`source_frame_index`); None: a new lane
                from the other arguments.
            keep_lane: send the lane with the camera's frames every ``lane_every_s`` of
                media, for a tracker that replaces this one and for a resumed run (a
                file that can be read again).

        Raises:
            ConfigError: the camera is already tracked here, an argument is invalid, or
                ``state`` is another camera's.
        """
        if camera_id in self._cameras:
            raise ConfigError(f"camera {camera_id!r} already has a tracker", "camera_id")
        lane = (CameraLane(camera_id, config, smoothing, first_track_id) if state is None
                else pickle.loads(state))
        if lane.camera_id != camera_id:
            raise ConfigError(f"camera {camera_id!r}: the saved lane is camera "
                              f"{lane.camera_id!r}'s", "state")
        replay = ReplayBuffer(self._replay_s, REPLAY_MAX_FRAMES)
        self._cameras[camera_id] = _Hosted(lane, aggregator, replay, keep_lane=keep_lane)
        self._removed.pop(camera_id, None)
        if self._export is not None:
            self._export.start(camera_id, export)
        log.info("tracking camera %s", camera_id)

    def flush_camera(self, camera_id: str) -> bool:
        """Releases the frames the camera's lane holds and waits until every forwarded
        frame is settled downstream; False when its aggregator died meanwhile (its frames
        are kept for the replacement, see :meth:`set_aggregator`)."""
        hosted = self._get(camera_id)
        self._release(hosted.lane.flush())
        self._settle_all()
        return not hosted.down

    def remove_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Stops tracking a camera: its held frames are released and every forwarded frame
        is confirmed; returns the (k,) int64 ids that were still live."""
        hosted = self._get(camera_id)
        self._release(hosted.lane.flush())
        self._settle_all()
        if self._export is not None:
            self._export.stop(camera_id)
        del self._cameras[camera_id]
        self._removed[camera_id] = None
        while len(self._removed) > REMOVED_CAMERAS_KEPT:
            self._removed.popitem(last=False)
        log.info("stopped tracking camera %s", camera_id)
        return hosted.lane.live_ids

    def resume_camera(self, camera_id: str, after: tuple[int, float] | None = None,
                      skip_ids: int = 0) -> npt.NDArray[np.int64]:
        """Prepares for a camera whose source actor was re-created on a new timeline (a
        live source; see :meth:`CameraLane.resume`, which takes ``after`` and
        ``skip_ids``); returns the (k,) int64 ids dropped.

        Raises:
            InputError: the camera is not tracked here.
        """
        return self._get(camera_id).lane.resume(after, skip_ids)

    def source_frame_index(self, camera_id: str) -> int | None:
        """The frame_index that the camera's actor gave the last frame tracked here, or
        None: where a re-created actor reading the same file goes on from.

        Raises:
            InputError: the camera is not tracked here.
        """
        return self._get(camera_id).lane.source_frame_index

    def set_aggregator(self, camera_id: str, aggregator: Any,
                       after_pts: float | None = None) -> int:
        """Re-attaches a camera to a re-created aggregator and sends it again the kept
        frames newer than ``after_pts`` (its checkpoint's last media time; None: every
        kept frame). Returns how many frames were sent again."""
        hosted = self._get(camera_id)
        hosted.aggregator, hosted.down = aggregator, False
        frames = hosted.replay.after(after_pts)
        if frames:
            self._forward(camera_id, hosted, frames)
        log.info("camera %s: re-attached to a new aggregator, %d frame(s) replayed",
                 camera_id, len(frames))
        return len(frames)

    def next_track_ids(self) -> dict[str, int]:
        """Per camera, the id its next confirmed track would get."""
        return {cid: h.lane.next_id for cid, h in self._cameras.items()}

    def next_track_id(self, camera_id: str) -> int:
        """The id the camera's next confirmed track would get."""
        return self._get(camera_id).lane.next_id

    def cameras(self) -> list[str]:
        """The ids of the cameras tracked by this actor, sorted."""
        return sorted(self._cameras)

    def update(self, frames: list[DetectedFrame]) -> list[str | None]:
        """Tracks consecutive frames (of one camera, or several in order per camera); the
        frames that become final go to their aggregators together, in one call each.

        A frame that fails does not stop the others. Returns, per frame, None or the
        error message of that frame (it names the camera). Frames of a camera removed
        from this tracker are dropped (counted in :meth:`stats`), not errors: they come
        from an actor of it being discarded, whose warnings no one could act on.
        """
        errors: list[str | None] = []
        final: list[TrackedFrame] = []
        for frame in frames:
            if frame.meta.camera_id in self._removed:
                self._removed_frames += 1
                errors.append(None)
                continue
            try:
                final += self._get(frame.meta.camera_id).lane.step(frame.meta, frame.detections,
                                                                   frame.static)
                errors.append(None)
            except PanorayError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        self._release(final)
        return errors

    def flush(self) -> dict[str, Any]:
        """Releases every held frame and waits until every forwarded frame is processed
        downstream. Returns :meth:`stats`."""
        for hosted in self._cameras.values():
            self._release(hosted.lane.flush())
        self._settle_all()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters per camera (see :meth:`CameraLane.stats`), plus forwarding
        health and, per camera whose track export stopped, why (``export_failed``)."""
        return {"cameras": {cid: h.lane.stats() for cid, h in sorted(self._cameras.items())},
                "forward_errors": self._forward_errors, "forward_pending": len(self._pending),
                "removed_camera_frames": self._removed_frames,
                "export_failed": self._export.failed if self._export is not None else {}}

    def _get(self, camera_id: str) -> _Hosted:
        hosted = self._cameras.get(camera_id)
        if hosted is None:
            raise InputError(f"unknown camera {camera_id!r}; tracked cameras: {self.cameras()}",
                             "camera_id")
        return hosted

    def _release(self, frames: list[TrackedFrame]) -> None:
        """Exports final frames and forwards them, one call per camera's run of frames."""
        if not frames:
            return
        if self._export is not None:
            self._export.write(frames)
        runs = [(cid, list(g)) for cid, g in itertools.groupby(frames, lambda f: f.meta.camera_id)]
        last = {cid: i for i, (cid, _) in enumerate(runs)}  # a camera's lane goes with its last
        for i, (camera_id, batch) in enumerate(runs):
            hosted = self._cameras[camera_id]
            if hosted.aggregator is not None:
                hosted.replay.add(batch)
                if not hosted.down:
                    self._forward(camera_id, hosted, batch, with_lane=last[camera_id] == i)
        while len(self._pending) > self._max_pending:
            self._settle(*self._pending.popleft())

    def _forward(self, camera_id: str, hosted: _Hosted, frames: list[TrackedFrame],
                 with_lane: bool = False) -> None:
        """Sends frames to the camera's aggregator; ``with_lane``: they are the last the
        lane released, so the lane may go with them (see ``lane_every_s``)."""
        aggregator, pts = hosted.aggregator, frames[-1].meta.pts_s
        lane = None
        if with_lane and hosted.keep_lane and (hosted.lane_sent_pts is None
                                 or pts - hosted.lane_sent_pts >= self._lane_every_s):
            lane = pickle.dumps(hosted.lane, protocol=pickle.HIGHEST_PROTOCOL)
            hosted.lane_sent_pts = pts
        self._pending.append((aggregator.update.remote(frames, lane), camera_id, aggregator,
                              pts))

    def _settle(self, ref: ray.ObjectRef, camera_id: str, aggregator: Any,
                last_pts: float) -> None:
        """Waits for one aggregator call; a success confirms its frames for replay."""
        try:
            ray.get(ref)
            hosted = self._cameras.get(camera_id)
            if hosted is not None and hosted.aggregator is aggregator:
                hosted.replay.confirm(last_pts)
        except RayActorError:  # kept for replay to its replacement
            hosted = self._cameras.get(camera_id)
            if hosted is not None and hosted.aggregator is aggregator and not hosted.down:
                hosted.down = True
                log.warning("camera %s: its aggregator is gone; keeping frames for its "
                            "replacement", camera_id)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop tracking
            self._forward_errors += 1
            log.error("aggregator update failed: %s", exc)

    def _settle_all(self) -> None:
        while self._pending:
            self._settle(*self._pending.popleft())
