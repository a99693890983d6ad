"""An offline batch: which offline cameras run now, which wait, and how far the batch is.
No Ray.

An offline run may have more files than the cluster hosts at once (64 recordings on a
2-core machine). The controller then runs as many as fit and starts the next when one
ends (:mod:`actors.batch`). What fits is decided here, from the resources each node had
free when the batch began and each camera's demand (its ``placement``), so that a camera
is only started when Ray can place it at once, and never waits for resources in Ray's
queue, where ``ray.camera_start_timeout_s`` would fail it.

Example:
    >>> slots = Slots([{"CPU": 0.6}], limit=None)
    >>> [slots.take(f"cam-{i}", {"CPU": 0.25}) for i in range(3)]
    [True, True, False]
    >>> slots.release("cam-0"); slots.take("cam-2", {"CPU": 0.25})
    True
    >>> slots.hand_over("cam-2", "cam-3"); slots.running
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.control.views import CameraRow
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraState

EPSILON = 1e-6
"""Slack when comparing fractional logical resources (0.1 + 0.2 fits in 0.3)."""
QUEUED_REASON = "queued: waiting for a free slot of the offline batch"
"""The reason shown for an offline camera that waits for its turn (state ``idle``)."""


def demand_of(camera: CameraConfig) -> dict[str, float]:
    """The Ray resources the camera's actor reserves: ``{"CPU": num_cpus, **resources}``."""
    return {"CPU": camera.placement.num_cpus, **camera.placement.resources}


class Slots:
    """Bookkeeping of the resources the batch's running cameras hold, per node.

    Args:
        free: per node, the logical resources free for cameras when the batch began
            (``{"CPU": 1.5, "site-north": 100}``).
        limit: most cameras at once (``ray.max_concurrent_offline``); None: what fits.

    A camera is placed on the node with the most free CPU that has all of its demand (as
    Ray's spread placement does); when none has, it waits, unless nothing of the batch
    runs: then it is let through, and Ray waits for the cluster to grow (up to
    ``ray.camera_start_timeout_s``), so a batch never stalls on its own bookkeeping.
    """

    def __init__(self, free: Sequence[Mapping[str, float]], limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1 or None, got {limit}")
        self._free = [dict(node) for node in free]
        self._limit = limit
        self._held: dict[str, tuple[int | None, dict[str, float]]] = {}

    @property
    def running(self) -> int:
        """Cameras holding a slot now."""
        return len(self._held)

    def take(self, camera_id: str, demand: Mapping[str, float]) -> bool:
        """Reserves ``demand`` for the camera if it fits now; True when it may start.

        Raises:
            ValueError: the camera already holds a slot.
        """
        if camera_id in self._held:
            raise ValueError(f"camera {camera_id!r} already holds a slot")
        if self._limit is not None and len(self._held) >= self._limit:
            return False
        fitting = [i for i, node in enumerate(self._free)
                   if all(node.get(k, 0.0) + EPSILON >= v for k, v in demand.items())]
        if not fitting:
            if self._held:
                return False
            self._held[camera_id] = (None, dict(demand))  # alone: let Ray decide
            return True
        node = max(fitting, key=lambda i: (self._free[i].get("CPU", 0.0), -i))
        for k, v in demand.items():
            self._free[node][k] = self._free[node].get(k, 0.0) - v
        self._held[camera_id] = (node, dict(demand))
        return True

    def hand_over(self, camera_id: str, to: str) -> None:
        """Moves the slot ``camera_id`` holds, as it stands, to camera ``to`` (the next
        file of a batch, of the same demand, in the same actor).

        Raises:
            KeyError: ``camera_id`` holds no slot.
            ValueError: ``to`` already holds one.
        """
        if to in self._held:
            raise ValueError(f"camera {to!r} already holds a slot")
        self._held[to] = self._held.pop(camera_id)

    def release(self, camera_id: str) -> None:
        """Gives back the camera's slot (no-op when it holds none)."""
        node, demand = self._held.pop(camera_id, (None, {}))
        if node is not None:
            for k, v in demand.items():
                self._free[node][k] = self._free[node].get(k, 0.0) + v


@dataclass(frozen=True)
class BatchProgress:
    """How far an offline batch is.

    Attributes:
        done: files that ended (or failed).
        left: files running or queued.
        running: files being processed now.
        frames: frames delivered so far, over every file.
        fps: frames delivered per wall second since the batch began.
        eta_s: estimated wall seconds to the end (None until a file has ended): the
            frames still expected (files left times the mean frames of an ended file,
            less what running files delivered) at the rate so far.
    """

    done: int
    left: int
    running: int
    frames: int
    fps: float
    eta_s: float | None

    def line(self) -> str:
        """One line for the status table and the log."""
        eta = "?" if self.eta_s is None else _duration(self.eta_s)
        return (f"files {self.done} done, {self.left} left ({self.running} running) · "
                f"{self.fps:.1f} frames/s · ETA {eta}")


def batch_progress(rows: Sequence[CameraRow], elapsed_s: float) -> BatchProgress | None:
    """The progress of the batch's cameras among ``rows`` (those with ``batch`` set);
    None when the run has no batch.

    Args:
        rows: status rows; a batch camera's state is ``idle`` while queued.
        elapsed_s: wall seconds since the batch began.
    """
    batch = [r for r in rows if r.batch]
    if not batch:
        return None
    ended = [r for r in batch if CameraState(r.state).terminal]
    running = [r for r in batch if not CameraState(r.state).terminal
               and r.state != CameraState.IDLE]
    frames = sum(r.delivered for r in batch)
    fps = frames / elapsed_s if elapsed_s > 0 else 0.0
    left = len(batch) - len(ended)
    eta: float | None = None
    if ended and fps > 0:
        per_file = sum(r.delivered for r in ended) / len(ended)
        expected = max(0.0, left * per_file - sum(r.delivered for r in running))
        eta = expected / fps
    elif not left:
        eta = 0.0
    return BatchProgress(len(ended), left, len(running), frames, fps, eta)


def _duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
