"""Offline cameras as a batch job: as many run as fit, the next starts when one ends.
Runs inside the controller actor.

    queue (config order) ──slot free──▶ launch ──file ends──▶ remove (tracks exported,
         ▲                                ▲                    windows written)
         │                                └─ next of the same demand: same slot, same actor
         └──────────────────────────── slot given back ◀───────┘

A file that ends hands its slot and its camera actor to the next queued file when that
file's camera asks for the same resources: the actor takes the new camera
(``CameraActor.reload``) instead of a new process starting, whose start (Python, Ray,
OpenCV and Serve imported, 1.2-1.4 CPU-s) outweighs a short file's frames.

Each camera is added to its tracker and aggregator, run, and removed through the same
:class:`~actors.graph.ActorGraph` steps as a camera added and removed through the API,
so its output does not depend on how many run beside it. What fits is counted by
:class:`~pipeline.control.batch.Slots` from the resources the nodes had free when the
batch began; a camera only starts when Ray can place it at once. A camera that fails
to start is reported failed and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.calls import CALL_TIMEOUT_S, call, kill_actor
from actors.graph import ActorGraph
from pipeline.control.batch import QUEUED_REASON, Slots, demand_of
from pipeline.control.records import CameraRecord, lost_stats
from pipeline.control.views import CameraRow, status_rows
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraState, CameraStats

log = logging.getLogger(__name__)

WAIT_S = 5.0
"""Longest one wait on a camera actor for its file's end; the batch then looks again
whether the run is closing or the actor was replaced."""


def free_per_node() -> list[dict[str, float]]:
    """The logical resources free now on each live node (one entry for the whole cluster
    when Ray does not say per node)."""
    try:
        from ray._private.state import available_resources_per_node

        nodes = list(available_resources_per_node().values())
        if nodes:
            return [dict(n) for n in nodes]
    except Exception as exc:  # noqa: BLE001 - private API: fall back to the total
        log.debug("free resources per node unknown: %s", type(exc).__name__)
    return [dict(ray.available_resources())]


def live_nodes() -> int:
    """How many nodes of the cluster are alive now (on one, spreading cameras is moot)."""
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def charge(free: list[dict[str, float]], cameras: Iterable[CameraConfig]) -> None:
    """Takes the demand of ``cameras`` (started outside the batch) off ``free``, from the
    node with most free CPU, so that the batch only counts what is left."""
    for cam in cameras:
        node = max(free, key=lambda n: n.get("CPU", 0.0))
        for k, v in demand_of(cam).items():
            node[k] = node.get(k, 0.0) - v


def all_fit(free: list[dict[str, float]], cameras: list[CameraConfig],
            limit: int | None) -> bool:
    """True when every camera of ``cameras`` fits at once (no batch needed)."""
    slots = Slots(free, limit)
    return all(slots.take(c.id, demand_of(c)) for c in cameras)


class OfflineBatch:
    """Runs offline cameras a few at a time until every one has ended.

    Args:
        graph: the run's actor graph.
        cameras: the batch's cameras, in the order they start.
        free: per node, the resources free for the batch now.
    """

    def __init__(self, graph: ActorGraph, cameras: list[CameraConfig],
                 free: list[dict[str, float]]) -> None:
        self.graph = graph
        self.order = [c.id for c in cameras]
        self.queue: deque[CameraConfig] = deque(cameras)
        self.slots = Slots(free, graph.config.ray.max_concurrent_offline)
        self.peak = 0  # most cameras of the batch that ran at once
        self.new_actors = 0  # camera actors started (the others took over an ended one's)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the batch in the background."""
        self._task = asyncio.create_task(self._dispatch())

    async def stop(self) -> None:
        """Stops starting cameras and waiting for them (the run is closing): the cameras
        still running are stopped by the graph's shutdown; a removal under way ends."""
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def done(self) -> bool:
        """True once every file has been run and removed (its tracks exported, its
        windows written), or the batch was stopped."""
        return self._task is not None and self._task.done()

    @property
    def not_started(self) -> list[str]:
        """Ids of the cameras still queued."""
        return [c.id for c in self.queue]

    def rows(self, rows: list[CameraRow]) -> list[CameraRow]:
        """``rows`` (the running cameras') with the batch's queued and finished cameras
        added, each marked ``batch``, in the batch's order after the other cameras."""
        mine = set(self.order)
        by_id = {r.camera_id: r for r in rows if r.camera_id in mine}
        queued = {c.id for c in self.queue}
        done = {cid: self.graph.removed[cid] for cid in self.order
                if cid not in by_id and cid not in queued and cid in self.graph.removed}
        by_id.update({r.camera_id: r for r in status_rows(
            {cid: rec for cid, (rec, _) in done.items()},
            {cid: stats for cid, (_, stats) in done.items()}, [])})
        for cid in queued:
            by_id[cid] = CameraRow(cid, CameraState.IDLE.value, QUEUED_REASON, 0.0, 0, 0, 0,
                                   0, 0)
        for cid in self._running:  # out of the queue, not yet listed: being placed
            by_id.setdefault(cid, CameraRow(cid, CameraState.CONNECTING.value,
                                            "starting its actor", 0.0, 0, 0, 0, 0, 0))
        out = [r for r in rows if r.camera_id not in mine]
        for cid in self.order:
            row = by_id.get(cid)
            if row is not None:
                row.batch = True
                out.append(row)
        return out

    async def _dispatch(self) -> None:
        graph = self.graph
        while not graph.closing and (self.queue or self._running):
            while self.queue and self.slots.take(self.queue[0].id, demand_of(self.queue[0])):
                cam = self.queue.popleft()
                self._running[cam.id] = asyncio.create_task(self._process(cam))
            self.peak = max(self.peak, len(self._running))
            if not self._running:  # nothing fits and nothing runs: cannot happen (Slots)
                log.error("offline batch: %d camera(s) cannot start", len(self.queue))
                return
            await asyncio.wait(list(self._running.values()),
                               return_when=asyncio.FIRST_COMPLETED)
        if not graph.closing:
            log.info("offline batch: all %d cameras done (at most %d at once)",
                     len(self.order), self.peak)

    async def _process(self, cam: CameraConfig) -> None:
        """Runs ``cam``, then in the same slot and actor each next queued camera of the
        same demand, until the queue's next wants other resources."""
        task, actor = self._running[cam.id], None
        try:
            while True:
                record = await self._launch(cam, actor)
                actor = None  # placed, or killed
                if record is None:
                    return
                removed = False
                while not removed:  # again if its actor was re-created once it had ended
                    ended = await self._until_ended(record)
                    keep = self._next_of_same_demand(cam) is not None
                    removed, actor = await asyncio.shield(self._finish(record, ended, keep))
                after = self._next_of_same_demand(cam)
                if after is None:
                    return
                self.queue.popleft()
                self.slots.hand_over(cam.id, after.id)
                del self._running[cam.id]
                self._running[after.id] = task
                cam = after
        finally:
            if actor is not None:
                kill_actor(actor)  # kept for a camera that never got it
            self.slots.release(cam.id)
            self._running.pop(cam.id, None)

    def _next_of_same_demand(self, cam: CameraConfig) -> CameraConfig | None:
        """The queue's next camera (left in it) when it asks for what ``cam`` has."""
        if self.graph.closing or not self.queue or demand_of(self.queue[0]) != demand_of(cam):
            return None
        return self.queue[0]

    async def _launch(self, cam: CameraConfig, reuse: Any = None) -> CameraRecord | None:
        """Adds and starts ``cam``, in ``reuse`` (the ended file's actor) when given.
        When the actor could not take it, or a host died (a tracker or aggregator, whose
        replacement the supervisor makes at its next check), it is tried again with a new
        actor and the hosts then current, for up to ``ray.camera_start_timeout_s``; a
        camera that still does not start is reported failed and the batch goes on."""
        graph = self.graph
        loop = asyncio.get_running_loop()
        deadline = loop.time() + graph.config.ray.camera_start_timeout_s
        while True:
            async with graph.lock:
                if graph.closing:
                    if reuse is not None:
                        kill_actor(reuse)
                    return None
                record = graph.new_record(cam, "config", tuple(graph.starting.values()))
                graph.starting[cam.id] = record
            try:
                if reuse is None:
                    self.new_actors += 1
                await graph.launch(record, reuse=reuse)
                break
            except Exception as exc:  # noqa: BLE001 - one camera never stops the batch
                host_died = isinstance(exc, RayActorError)
                if not (host_died or reuse is not None) or loop.time() >= deadline:
                    record.lost = f"did not start: {exc}"
                    log.error("offline batch: camera %s %s", cam.id, record.lost)
                    graph.removed[cam.id] = (record, lost_stats(record, record.lost))
                    return None
                log.warning("offline batch: camera %s did not start (%s); trying again with "
                            "a new actor", cam.id, type(exc).__name__)
                reuse = None  # killed by the failed launch
            finally:
                graph.starting.pop(cam.id, None)
            if host_died:  # give the supervisor a check to replace it
                await asyncio.sleep(graph.config.ray.camera_check_interval_s)
        async with graph.lock:
            graph.records[cam.id] = record  # the shutdown stops it if the run is closing
        log.info("offline batch: camera %s started (%d running, %d queued)", cam.id,
                 len(self._running), len(self.queue))
        return record

    async def _until_ended(self, record: CameraRecord) -> Any:
        """Returns the camera's actor when its file has ended (None: it failed, or was
        removed, or the run is closing)."""
        graph, cid = self.graph, record.camera_id
        while not graph.closing and graph.records.get(cid) is record and not record.lost:
            actor = graph.actors.get(cid)
            if actor is None:  # being re-created by the supervisor
                await asyncio.sleep(graph.config.ray.camera_check_interval_s)
                continue
            try:
                stats: CameraStats = await call(actor.wait.remote(WAIT_S), WAIT_S + CALL_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - died: the supervisor re-creates it
                await asyncio.sleep(graph.config.ray.camera_check_interval_s)
                continue
            if CameraState(stats.state).terminal and graph.actors.get(cid) is actor:
                record.last = record.total(stats)
                return actor
        return None

    async def _finish(self, record: CameraRecord, ended: Any,
                      keep: bool = False) -> tuple[bool, Any]:
        """Removes an ended camera (``ended``: the actor whose file ended): its tracks
        are exported, its windows written. Returns (removed, its actor when ``keep`` and
        the file ended as it should, for the next file, else None: the actor is gone).
        Not removed: its actor was re-created since (its tracker died, and the file is
        read again from the tracker's saved lane), or its tracker or aggregator is dead
        and not yet replaced; wait for the new one to end, or the new host."""
        graph, cid = self.graph, record.camera_id
        async with graph.lock:
            if graph.closing or graph.records.get(cid) is not record:
                return True, None  # the shutdown (or the API) takes it from here
            actor = graph.actors.get(cid)
            if ended is not None and actor is not ended:
                return False, None
            final = await graph.remove(record, keep_actor=keep, until_written=True)
        if final is None:  # a host died meanwhile: removed again once it is re-created
            await asyncio.sleep(graph.config.ray.camera_check_interval_s)
            return False, None
        log.info("offline batch: camera %s %s (%d frames); %d queued", cid, final.state,
                 final.frames_delivered, len(self.queue))
        if not keep or actor is None:
            return True, None
        if final.state != CameraState.ENDED.value:
            kill_actor(actor)
            return True, None
        return True, actor


def summary_of(batch: OfflineBatch | None, cameras: Mapping[str, Any]) -> dict[str, Any]:
    """The batch's part of the run summary: how many files, how many at most ran at once,
    how many camera actors started, and the ids never started (the run ended first)."""
    if batch is None:
        return {}
    return {"batch": {"files": len(batch.order), "peak_concurrency": batch.peak,
                      "camera_actors_started": batch.new_actors,
                      "ended": sum(1 for cid in batch.order
                                   if cameras.get(cid, {}).get("state") == "ended"),
                      "not_started": batch.not_started}}
