"""Supervision of the hosts: re-creating a tracker or aggregator actor that died and
re-attaching its cameras. Runs inside the controller actor.

Every ``ray.camera_check_interval_s`` each tracker and aggregator is asked a cheap
question; one whose actor died (``ActorDiedError``; a busy one that does not answer in
time is left alone) is replaced:

- **aggregator**: the new actor restores the dead one's checkpoint (analytics state and
  unwritten output, at most ``run.checkpoint_s`` of media time old); cameras it did not
  know are added afresh; each camera's tracker re-sends the frames newer than the
  checkpoint and its camera actor sends its stills to the new one.
- **tracker**: a new actor takes its cameras, each with track ids continuing past the last
  it reported (plus a margin); the camera actors' waiting deliveries go to it. Frames the
  dead one held (the offline smoother's lookahead) are lost, and each camera's
  aggregator writes the windows that span the gap as incomplete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray.exceptions import ActorDiedError

from actors.graph import TRACK_ID_MARGIN, ActorGraph, awaitable, call

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
        self.replaced = {"tracker": 0, "aggregator": 0}

    async def check(self) -> None:
        """One round: replaces every dead aggregator, then every dead tracker."""
        graph = self.graph
        for i, res in enumerate(await _ask([a.ready.remote() for a in graph.aggregators])):
            if isinstance(res, ActorDiedError):
                await self.replace_aggregator(i)
        for i, res in enumerate(await _ask([t.next_track_ids.remote() for t in graph.trackers])):
            if isinstance(res, dict):
                self.next_ids.update(res)
            elif isinstance(res, ActorDiedError):
                await self.replace_tracker(i)

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
            if cid not in restored:
                await call(new.add_camera.remote(cid, cfg.analytics_for(record.camera),
                                                 record.geometry_version))
                await call(new.record_failure.remote(cid, "aggregator restarted"))
            record.aggregator = new
            await call(record.tracker.set_aggregator.remote(cid, new, restored.get(cid)))
            await _tell(graph.actors.get(cid), aggregator=new)
        for cid in set(restored) - {r.camera.id for r in hosted}:  # removed meanwhile
            await call(new.remove_camera.remote(cid))
        self.replaced["aggregator"] += 1
        log.warning("aggregator %d died; re-created from its checkpoint (%d camera(s) "
                    "restored, %d re-attached)", index, len(restored), len(hosted))

    async def replace_tracker(self, index: int) -> None:
        """Re-creates tracker ``index`` and moves its cameras to the new one."""
        graph = self.graph
        old = graph.trackers[index]
        new = graph.make_tracker()
        graph.trackers[index] = new
        hosted = [r for r in graph.all_records() if r.tracker is old]
        for record in hosted:
            cid = record.camera.id
            record.tracker = new
            await graph.attach_tracker(record, self.next_ids.get(cid, 1) + TRACK_ID_MARGIN,
                                       restarted=True)
            await call(record.aggregator.record_failure.remote(cid, "tracker restarted"))
            await _tell(graph.actors.get(cid), tracker=new)
        self.replaced["tracker"] += 1
        log.warning("tracker %d died; re-created with its %d camera(s)", index, len(hosted))


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
