"""Supervision of the hosts: re-creating a tracker or aggregator actor that died and
re-attaching its cameras. Runs inside the controller actor.

Every ``ray.camera_check_interval_s`` each tracker and aggregator is asked a cheap
question; one whose actor died (``ActorDiedError``; a busy one that does not answer in
time is left alone) is replaced:

- **aggregator**: the new actor restores the dead one's checkpoint (analytics state and
  unwritten output, at most ``run.checkpoint_s`` of media time old); cameras it did not
  know are added afresh; each camera's tracker re-sends the frames newer than the
  checkpoint and its camera actor sends its stills to the new one.
- **tracker**: a new actor takes its cameras. A camera that reads an offline file or
  image folder (``ActorGraph.continues``) goes on from its newest lane in its aggregator
  (tracks, held frames, id counter: trackers send it with the camera's frames every
  ``run.checkpoint_s`` of media, as for a resumed run), and its camera actor is
  re-created to read the source again after that lane's last frame: the same frames
  give the same tracks, frames sent twice are dropped downstream (the aggregator keeps
  the first copy of a frame, the track export skips the frames it has), so nothing is
  lost and no gap is recorded. Any other camera gets a new lane, with track ids
  continuing past the last it reported (plus a margin); the camera actors' waiting
  deliveries go to it. Frames the dead one held are lost, and each camera's aggregator
  writes the windows that span the gap as incomplete.
- **alerts actor**: a new one goes on from the state the dead one saved last (with a
  sink: rules' timers and open alerts, zone groups, the site's people inside; at most
  ``alerts.check_interval_s`` old), each aggregator sends it again the samples with
  crossings it sent lately (:mod:`actors.alert_link`; it skips those it has), and it is
  told of the cameras removed while none was there. Its outbox, on disk, delivers what
  was pending.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray.exceptions import ActorDiedError

from actors.calls import awaitable, call, kill_actor
from actors.graph import TRACK_ID_MARGIN, ActorGraph

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 10.0
"""Longest a host may take to answer before the check moves on (it is not replaced)."""


class HostSupervisor:
    """Checks the trackers and aggregators of a graph and replaces dead ones.

    Args:
        graph: the run's actor graph.
    """

    def __init__(self, graph: ActorGraph) -> None:
        self.graph = graph
        self.next_ids: dict[str, int] = {}  # per camera, its next track id when last read
        self.replaced = {"tracker": 0, "aggregator": 0, "alerts": 0}

    async def check(self) -> list[tuple[str, Any]]:
        """One round: replaces a dead alerts actor, every dead aggregator, then every dead
        tracker. Returns (camera id, stopped actor) of each camera whose actor was stopped
        to read its source again: the caller places it again (``Supervisor``), outside
        :attr:`ActorGraph.lock`."""
        graph = self.graph
        if graph.alerts is not None:
            [res] = await _ask([graph.alerts.ready.remote()])
            if isinstance(res, ActorDiedError):
                await self.replace_alerts()
        for i, res in enumerate(await _ask([a.ready.remote() for a in graph.aggregators])):
            if isinstance(res, ActorDiedError):
                await self.replace_aggregator(i)
        again = []
        answers = await _ask([t.next_track_ids.remote() for t in graph.trackers])
        for i, res in enumerate(answers):
            if isinstance(res, dict):
                self.next_ids.update(res)
            elif isinstance(res, ActorDiedError):
                again += await self.replace_tracker(i)
        hosted = {r.camera.id for r in graph.all_records()}
        self.next_ids = {cid: n for cid, n in self.next_ids.items() if cid in hosted}
        return again

    async def replace_alerts(self) -> None:
        """Re-creates the run's alerts actor from its saved state and points the
        aggregators at it (see the module docstring)."""
        graph = self.graph
        graph.alerts = await graph.make_alerts()
        resent = await asyncio.gather(
            *(call(a.set_alerts.remote(graph.alerts)) for a in graph.aggregators),
            return_exceptions=True)  # a dead aggregator's replacement gets the new one
        for cid in sorted(graph.unforgotten):  # after the samples sent again
            await call(graph.alerts.forget_camera.remote(cid))
        graph.unforgotten.clear()
        self.replaced["alerts"] += 1
        log.warning("the alerts actor died; re-created from its saved state, %d sample(s) "
                    "with crossings sent to it again",
                    sum(n for n in resent if isinstance(n, int)))

    async def replace_aggregator(self, index: int) -> None:
        """Re-creates aggregator ``index`` from its checkpoint and re-attaches its cameras."""
        graph, cfg = self.graph, self.graph.config
        old = graph.aggregators[index]
        new = graph.make_aggregator(index)
        restored: dict[str, float | None] = await call(new.restored.remote())
        graph.aggregators[index] = new
        hosted = [r for r in graph.all_records() if r.aggregator is old]
        for record in hosted:
            cid = record.camera.id
            record.aggregator = new
            try:
                if cid not in restored:
                    await call(new.add_camera.remote(cid, cfg.analytics_for(record.camera),
                                                     record.geometry_version))
                    await call(new.record_failure.remote(cid, "aggregator restarted"))
                await call(record.tracker.set_aggregator.remote(cid, new, restored.get(cid)))
                await _tell(graph.actors.get(cid), aggregator=new)
            except Exception as exc:  # noqa: BLE001 - e.g. a camera still being placed
                _not_moved(cid, "aggregator", exc)
        for cid in set(restored) - {r.camera.id for r in hosted}:  # removed meanwhile
            await call(new.remove_camera.remote(cid))
        self.replaced["aggregator"] += 1
        log.warning("aggregator %d died; re-created from its checkpoint (%d camera(s) "
                    "restored, %d re-attached)", index, len(restored), len(hosted))

    async def replace_tracker(self, index: int) -> list[tuple[str, Any]]:
        """Re-creates tracker ``index`` and moves its cameras to the new one; returns
        (camera id, stopped actor) of the cameras to place again (see :meth:`check`)."""
        graph = self.graph
        old = graph.trackers[index]
        new = graph.make_tracker()
        graph.trackers[index] = new
        hosted = [r for r in graph.all_records() if r.tracker is old]
        again = []
        for record in hosted:
            cid = record.camera.id
            record.tracker = new
            actor = graph.actors.get(cid)
            try:
                if (actor is not None and not record.lost and not graph.closing
                        and graph.records.get(cid) is record  # placed, not still starting
                        and graph.continues(record.camera)):  # read again after its lane
                    lane = await call(record.aggregator.lane.remote(cid))
                    await graph.attach_tracker(record, graph.first_track_id(cid),
                                               restarted=True, state=lane)
                    kill_actor(actor)
                    graph.unlist(record)
                    again.append((cid, actor))
                    continue
                await graph.attach_tracker(record, self.next_ids.get(cid, 1) + TRACK_ID_MARGIN,
                                           restarted=True)
                await call(record.aggregator.record_failure.remote(cid, "tracker restarted"))
                await _tell(actor, tracker=new)
            except Exception as exc:  # noqa: BLE001 - e.g. a camera still being placed
                _not_moved(cid, "tracker", exc)
        self.replaced["tracker"] += 1
        log.warning("tracker %d died; re-created with its %d camera(s), %d of them read "
                    "again from its last saved state", index, len(hosted), len(again))
        return again


def _not_moved(camera_id: str, host: str, exc: Exception) -> None:
    """Logs a camera that did not move to a re-created host. A camera still being placed
    fails its start on the dead host, and a batch tries it again; the host's other
    cameras move all the same."""
    log.error("camera %s: not moved to the new %s: %s: %s", camera_id, host,
              type(exc).__name__, exc)


async def _ask(refs: list[Any]) -> list[Any]:
    return await asyncio.gather(
        *(asyncio.wait_for(awaitable(r), PING_TIMEOUT_S) for r in refs),
        return_exceptions=True)


async def _tell(camera_actor: Any, tracker: Any = None, aggregator: Any = None) -> None:
    """Points a camera actor at a new host (a camera being re-created is skipped: it
    starts with its record's hosts)."""
    if camera_actor is None:
        return
    try:
        await call(camera_actor.set_downstream.remote(tracker, aggregator))
    except Exception as exc:  # noqa: BLE001 - its own supervision handles a dead camera
        log.warning("a camera actor did not take its new host: %s", type(exc).__name__)
