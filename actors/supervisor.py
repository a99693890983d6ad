"""Camera supervision: reading every camera's stats, and re-creating a camera whose actor
died. Runs inside the controller actor.

Camera actors have no Ray restarts (``max_restarts=0``). Every
``ray.camera_check_interval_s`` the supervisor reads each camera's stats; a camera whose
actor died (its node was lost) while it was running is re-created on a node that can host
it, counted in ``restarts``, and its tracker splices the new actor's frames onto the
camera's timeline, so frame numbers, media time, analytics windows and heatmap names go on
where they stopped and its counters keep adding up. Ray's own restart would re-run the
actor's constructor but not ``start()`` it, and nothing downstream would learn that the
camera's frame numbers and media time began again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ray.exceptions import ActorDiedError

from actors.calls import awaitable, kill_actor, quietly
from actors.graph import ActorGraph
from actors.host_supervisor import HostSupervisor
from pipeline.control.records import CameraRecord, down_by_aggregator, lost_stats
from pipeline.ingest.health import CameraStats

log = logging.getLogger(__name__)

STATS_TIMEOUT_S = 10.0
"""Longest a camera may take to report its stats before it is shown as not answering."""


class Supervisor:
    """Reads the cameras of a graph and re-creates those whose actor died.

    Args:
        graph: the run's actor graph.
    """

    def __init__(self, graph: ActorGraph) -> None:
        self.graph = graph
        self.hosts = HostSupervisor(graph)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts checking every ``ray.camera_check_interval_s``."""
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stops checking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def poll(self, camera_ids: list[str]) -> dict[str, CameraStats]:
        """The cameras' stats, counters summed over restarts of their actors; a camera
        whose actor is gone reports its last counters and why."""
        graph = self.graph
        pairs = [(cid, graph.actors.get(cid)) for cid in camera_ids]
        results = iter(await self._stats([a for _, a in pairs if a is not None]))
        out: dict[str, CameraStats] = {}
        for cid, actor in pairs:
            record = graph.records.get(cid)
            if record is None:
                continue
            if actor is None:  # being re-created right now
                out[cid] = lost_stats(record, "camera actor is being re-created")
                continue
            res = next(results)
            if graph.actors.get(cid) is not actor:  # replaced meanwhile: res is the old one's
                out[cid] = lost_stats(record, "camera actor is being re-created")
            elif isinstance(res, CameraStats):
                record.last = out[cid] = record.total(res)
            elif isinstance(res, ActorDiedError):
                why = record.lost or "camera actor died (node lost?); re-creating it"
                out[cid] = lost_stats(record, why)
            else:
                out[cid] = lost_stats(record, f"camera actor not answering: {type(res).__name__}")
        return out

    async def _stats(self, actors: list[Any]) -> list[Any]:
        return await asyncio.gather(
            *(asyncio.wait_for(awaitable(a.stats.remote()), STATS_TIMEOUT_S) for a in actors),
            return_exceptions=True)

    async def _loop(self) -> None:
        interval = self.graph.config.ray.camera_check_interval_s
        while not self.graph.closing:
            await asyncio.sleep(interval)
            try:
                await self._check()
            except Exception:  # noqa: BLE001 - supervision must go on
                log.exception("checking the cameras failed")

    async def _check(self) -> None:
        graph = self.graph
        again: list[tuple[str, Any]] = []
        async with graph.lock:
            if not graph.closing:
                again = await self.hosts.check()
        for cid, stopped in again:  # their tracker died: read again from its saved lane
            record = graph.records.get(cid)
            if record is not None:
                await self._place_again(record, stopped, (record.tracker, record.aggregator),
                                        count=False)
        pairs = list(graph.actors.items())
        states: dict[str, CameraStats] = {}
        for (cid, actor), res in zip(pairs, await self._stats([a for _, a in pairs]),
                                     strict=True):
            record = graph.records.get(cid)
            if record is None or graph.actors.get(cid) is not actor:
                continue
            if isinstance(res, CameraStats):
                record.last = states[cid] = record.total(res)
            elif isinstance(res, ActorDiedError):
                await self._restart(cid, actor)
        graph.report_states(states)
        now = time.time()  # the windows of a stream's outage are written while it lasts
        down = down_by_aggregator(r for c in states if (r := graph.records.get(c)) is not None)
        for aggregator, ids in down.items():
            aggregator.idle.remote(ids, now)  # not waited for: the next check sends again

    async def _restart(self, camera_id: str, dead: Any) -> None:
        """Re-creates a camera whose actor died. The lock is held to mark the camera as
        being re-created and again to list its new actor, never across placement (up to
        ``ray.camera_start_timeout_s``), so adds, removes and reads go on meanwhile; a
        camera removed, or a run shut down, meanwhile gets no new actor."""
        graph = self.graph
        async with graph.lock:
            record = graph.records.get(camera_id)
            if graph.closing or record is None or graph.actors.get(camera_id) is not dead:
                return
            if record.lost:
                return
            if not record.needs_restart(graph.config.ray.max_camera_restarts):
                record.lost = (f"camera actor died after {record.restarts} restart(s); "
                               "not re-created" if record.restarts else
                               "camera actor died after the camera had finished")
                log.error("camera %s: %s", camera_id, record.lost)
                return
            record.carry_over()
            del graph.actors[camera_id]  # shown as being re-created
            hosts = (record.tracker, record.aggregator)
        await self._place_again(record, dead, hosts)

    async def _place_again(self, record: CameraRecord, dead: Any, hosts: tuple[Any, Any],
                           count: bool = True) -> None:
        """Places a new actor for a camera marked as being re-created (``dead``: its old
        actor; ``hosts``: its tracker and aggregator then); ``count``: a restart of the
        camera's own (its actor died), else its tracker's (not counted)."""
        graph, camera_id, old_node = self.graph, record.camera.id, record.node_id
        try:
            actor = await graph.place(record, resume=True)
        except Exception as exc:  # noqa: BLE001 - retried at the next check
            async with graph.lock:
                if graph.records.get(camera_id) is record and camera_id not in graph.actors:
                    graph.actors[camera_id] = dead
            log.error("camera %s: re-creating its actor failed (will retry): %s",
                      camera_id, exc)
            return
        adopted = False
        try:
            async with graph.lock:
                if graph.closing or graph.records.get(camera_id) is not record:
                    log.info("camera %s: removed while its actor was re-created; the new "
                             "actor is stopped", camera_id)
                    return
                await graph.adopt(record, actor, hosts)
                adopted = True
                record.restarts += count
                if not graph.continues(record.camera):  # else no gap: nothing to record
                    await quietly(record.aggregator.record_failure.remote(
                        camera_id, "camera actor restarted"))
        finally:
            if not adopted:
                kill_actor(actor)
        log.warning("camera %s: its actor %s (node %s); re-created on node %s (restart %d)",
                    camera_id, "died" if count else "was stopped with its tracker", old_node,
                    record.node_id, record.restarts)
