"""An aggregator's link to the run's alerts actor: its samples sent, and sent again.

The aggregator samples its cameras (:class:`~pipeline.alerts.feed.AlertFeed`) and sends
the samples to the run's one alerts actor, without waiting. Two failures would lose or
double crossings in the site occupancy and line-flow rules, which add crossings up:

- **This aggregator dies.** Its replacement restores the checkpoint, and the feed is in
  it: the crossings kept since each camera's last sample are not lost. Trackers replay
  the frames after the checkpoint, so samples of those frames go out again; the alerts
  runtime applies a camera's samples in media-time order and skips what it has (see
  :mod:`pipeline.alerts.runtime`).
- **The alerts actor dies.** Its replacement goes on from the state it saved last (at most
  ``alerts.check_interval_s`` old). The samples with crossings sent in the last
  :data:`KEEP_SENT_S` seconds are kept (and in the checkpoint, for a run resumed after its
  controller died) and sent to the new actor (:meth:`AlertLink.replace`), which skips
  those it has. Samples without crossings are not kept: the next one brings the zones'
  state. The alerts actor keeps a removed camera's newest sample applied to skip its
  samples sent again, until a camera is added under its id (:meth:`AlertLink.add_camera`).

Example:
    >>> link = AlertLink(None, None)
    >>> link.send([], [], lambda cid, zones_only: None)   # no alerts actor: nothing to do
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any

import ray

from pipeline.alerts.feed import AlertFeed
from pipeline.alerts.inputs import CameraObservation
from pipeline.analytics.events import CameraSnapshot, Event
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)

FINAL_SAMPLES_TIMEOUT_S = 10.0
"""Longest a closing aggregator waits for the alerts actor to take its last samples."""

KEEP_SENT_S = 10.0
"""Wall seconds a sent sample with crossings is kept for a re-created alerts actor: more
than the alerts actor's save interval plus the time to find it dead and replace it."""

MAX_KEPT = 512
"""Most samples with crossings kept (bounds memory and the checkpoint on a fast offline
run; the oldest go first)."""

Snapshot = Callable[..., CameraSnapshot | None]


class AlertLink:
    """Sends one aggregator's samples to the run's alerts actor.

    Args:
        alerts: the alerts actor (a Ray actor handle), or None when the run has none.
        feed: what samples the cameras (with ``alerts``).
    """

    def __init__(self, alerts: Any, feed: AlertFeed | None) -> None:
        self._alerts = alerts
        self.feed = feed if alerts is not None else None
        self._sent: Any = None  # the latest observe call
        self._kept: deque[tuple[float, list[CameraObservation]]] = deque(maxlen=MAX_KEPT)

    def add_camera(self, camera_id: str) -> None:
        """Starts sampling a camera: a new timeline for the alerts actor, told before its
        first sample (one caller's calls run in order); samples kept of a camera removed
        before under its id go."""
        if self.feed is None:
            return
        self.feed.add_camera(camera_id)
        kept = ((at, [s for s in samples if s.camera_id != camera_id])
                for at, samples in self._kept)
        self._kept = deque(((at, s) for at, s in kept if s), maxlen=MAX_KEPT)
        self._alerts.camera_added.remote(camera_id)

    def remove_camera(self, camera_id: str) -> None:
        """Stops sampling a camera (its kept samples stay: the alerts actor may die before
        it saved the last ones; it skips them once it has them, removed or not)."""
        if self.feed is not None:
            self.feed.remove_camera(camera_id)

    def send(self, frames: Sequence[TrackedFrame], events: Sequence[Event],
             snapshot: Snapshot) -> None:
        """Samples a batch already fed to the analytics and sends what is due."""
        if self.feed is not None:
            self._send(self.feed.collect(frames, events, snapshot))

    def send_final(self, snapshot: Snapshot, cameras: Collection[str] | None = None) -> None:
        """Sends each camera's (of ``cameras``, default all) last sample and waits until
        the alerts actor has taken every sample sent (an actor runs one caller's calls in
        order), so that the run's shutdown closes it, or the removal of a camera makes
        its group zones empty, only after them."""
        if self.feed is None:
            return
        self._send(self.feed.final(snapshot, cameras))
        self._wait_taken()

    def replace(self, alerts: Any) -> int:
        """The run's alerts actor was re-created: later samples go to ``alerts``, and the
        kept ones are sent to it again (it skips those it has). Returns how many."""
        self._alerts = alerts
        self._forget_old()
        sent = self._send_kept()
        self._wait_taken()  # before the caller tells it of cameras removed meanwhile
        return sent

    def state(self) -> tuple[AlertFeed | None, list[tuple[float, list[CameraObservation]]]]:
        """What a checkpoint keeps: the feed (crossings since each camera's last sample)
        and the kept samples."""
        self._forget_old()
        return self.feed, list(self._kept)

    def restore(self, state: tuple[AlertFeed | None, list] | None) -> None:
        """Goes on from :meth:`state` of the aggregator this one replaces, and sends the
        kept samples again (an alerts actor that lost them with its controller takes them;
        one that has them skips them)."""
        if state is None or self.feed is None:
            return
        feed, kept = state
        if feed is not None:
            self.feed = feed
        self._kept.extend(kept)
        self._send_kept()  # however old: the run may have been resumed minutes later

    def _send_kept(self) -> int:
        for _, samples in self._kept:
            self._sent = self._alerts.observe.remote(samples)
        return len(self._kept)

    def _wait_taken(self) -> None:
        """Waits until the alerts actor has taken every sample sent (a dead one is logged:
        its replacement gets the kept samples)."""
        if self._sent is None:
            return
        try:
            ray.get(self._sent, timeout=FINAL_SAMPLES_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the alerts actor is gone
            logger.error("alerts: the last samples were not taken: %s", type(exc).__name__)
        finally:
            self._sent = None

    def _send(self, samples: list[CameraObservation]) -> None:
        if not samples:
            return
        self._sent = self._alerts.observe.remote(samples)
        crossed = [s for s in samples if s.crossings]
        if crossed:
            self._kept.append((time.time(), crossed))
        self._forget_old()

    def _forget_old(self) -> None:
        oldest = time.time() - KEEP_SENT_S
        while self._kept and self._kept[0][0] < oldest:
            self._kept.popleft()
