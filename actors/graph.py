"""The actor graph of one run: creating and placing its actors, adding and removing
cameras, and re-creating a camera's actor. Runs inside the controller actor.

    camera actors ──frames──▶ Detector (Serve) ──▶ camera ──▶ tracker actor ──▶ aggregator actor ─┐
    (one per camera,              batched                     (the camera's)    (the camera's)    ▼
     spread over nodes)                          └──── private stills ─────────────────▲       sinks

Each camera gets the least loaded tracker and aggregator when it is added, and keeps them (its
record holds both handles) for its life, across restarts of its own actor. Trackers and
aggregators are placed on the driver's node (``ray.state_on_driver_node``), so a lost worker
node takes no analytics state or output file with it. Changes are made one at a time under
:attr:`ActorGraph.lock`; reads never take it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.aggregator_actor import AggregatorActor
from actors.calls import (CALL_TIMEOUT_S, actor_node, awaitable, bounded, call, kill_actor,
                          quietly, step)
from actors.alerts_actor import AlertsActor
from actors.camera_actor import start_camera
from actors.replicas import ReplicaCaller
from actors.tracker_actor import TrackerActor
from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.feed import AlertFeed, observed_cameras, publishes_live_counts
from pipeline.alerts.inputs import CameraStatus
from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.control.records import CameraRecord, down_by_aggregator, least_loaded, lost_stats
from pipeline.errors import PanorayError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.decoder import replayable
from pipeline.ingest.health import CameraStats
from pipeline.site_config import SiteConfig
from pipeline.sinks.checkpoint import alerts_state_path, checkpoint_path
from pipeline.sinks.resume import ResumePlan

log = logging.getLogger(__name__)

REPLAY_CHECKPOINTS = 3
"""Trackers keep this many aggregator checkpoint intervals of frames for replay."""
MIN_STEP_S = 1.0
"""Least time each shutdown step gets, even when the run's shutdown budget is spent."""
TRACK_ID_MARGIN = 100_000
"""Added to a camera's last known next track id when its tracker died, or when a live
camera resumes from a saved lane (ids given since that reading are unknown), so that no
id is reused within a run."""
MAX_REMOVED_KEPT = 1024
"""Final stats of removed cameras kept for the run summary (the oldest are dropped)."""


class ActorGraph:
    """The camera, tracker and aggregator actors of one run.

    Args:
        config: the validated site config.
        detector: DeploymentHandle of the Detector deployment.
        offline: run every camera in offline mode.
        export_dir: absolute directory of the MOTChallenge track export, or None.
        run_id: the run's id (None: a new uuid4 hex).
        alert_env: the alert sinks' secrets, read from the driver's environment.
        resume: the plan of the dead run this one resumes (:mod:`pipeline.sinks.resume`;
            ``run_id`` is its id), or None.
    """

    def __init__(self, config: SiteConfig, detector: Any, offline: bool = False,
                 export_dir: str | None = None, run_id: str | None = None,
                 alert_env: dict[str, str] | None = None,
                 resume: ResumePlan | None = None) -> None:
        self._alert_env = alert_env
        self._alert_feed: AlertFeed | None = None
        self.config = config
        self.detector = detector
        self.detector_caller = None if detector is None else ReplicaCaller(detector, direct=(
            config.serving.direct_calls and not config.serving.autoscaling))
        self.offline = offline
        self.export_dir = export_dir
        # One per run: track ids restart in every run, and output file names carry it.
        self.run_id = run_id or uuid.uuid4().hex
        self.resume = resume
        # Cameras of a resumed run that a checkpoint holds, not yet placed again: each
        # goes back to that aggregator (index), whose restored state it continues.
        self.resuming: dict[str, int] = dict(resume.hosts) if resume else {}
        self.records: dict[str, CameraRecord] = {}
        self.starting: dict[str, CameraRecord] = {}  # added through the API, being placed
        self.actors: dict[str, Any] = {}  # camera id -> its camera actor
        self.removed: OrderedDict[str, tuple[CameraRecord, CameraStats]] = OrderedDict()
        # Per removed camera id, where its track ids stopped, so that a camera added again
        # under that id never reuses an id in this run (one int per id ever removed).
        self._next_track_ids: dict[str, int] = {}
        self.trackers: list[Any] = []
        self.aggregators: list[Any] = []
        self.alerts: Any = None  # the run's alerts actor, with alert rules
        self.unforgotten: set[str] = set()  # removed while the alerts actor was dead
        self.labels: dict[int, str] | None = None  # the model's class names, by id
        self.lock = asyncio.Lock()
        self.closing = False
        self.node_id = ray.get_runtime_context().get_node_id()

    def all_records(self) -> list[CameraRecord]:
        """Cameras running and being placed."""
        return [*self.records.values(), *self.starting.values()]

    # -- hosts -------------------------------------------------------------------------
    def state_placement(self) -> dict[str, Any]:
        """Actor options that keep state on the driver's node (when configured)."""
        if not self.config.ray.state_on_driver_node:
            return {}
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(self.node_id, soft=True)}

    async def start_hosts(self) -> None:
        """Creates the alerts actor (when the site has alerts, zone groups or site occupancy),
        the aggregators (with the run's sinks) and the trackers."""
        cfg = self.config
        if cfg.alerts is not None or cfg.groups or cfg.flows.occupancy is not None:
            alerts = cfg.alerts or AlertsConfig()
            self.alerts = await self.make_alerts()  # a missing sink secret stops it here
            self._alert_feed = AlertFeed(alerts.sample_interval_s,
                                         observed_cameras(alerts, cfg.groups, cfg.flows.occupancy),
                                         publishes_live_counts(alerts))
        if self.detector is not None:  # class names, which zones and lines count by
            self.labels = await self.detector.labels.remote()
        why = self.resume.why if self.resume else None
        self.aggregators = [self.make_aggregator(i, why)
                            for i in range(cfg.ray.aggregator_actors)]
        self.trackers = [self.make_tracker() for _ in range(cfg.ray.tracker_actors)]
        await asyncio.gather(*(a.ready.remote() for a in self.aggregators))

    def checkpoint_of(self, index: int | None) -> str | None:
        """Where aggregator ``index`` (None: the alerts actor) keeps its checkpoint, on the
        first sink's output (None: the run has no sink)."""
        if not self.config.sinks:
            return None
        root = self.config.sinks[0].root
        return str(checkpoint_path(root, self.run_id, index) if index is not None
                   else alerts_state_path(root, self.run_id))

    async def make_alerts(self) -> Any:
        """Creates the run's alerts actor, ready; it goes on from the state saved beside
        the checkpoints, if any (it replaces one that died, or the run resumes)."""
        cfg = self.config
        actor = AlertsActor.options(**self.state_placement()).remote(
            cfg.alerts or AlertsConfig(), cfg.groups,
            str(cfg.output_dir) if cfg.output_dir else None, self.run_id, cfg.flows,
            self._alert_env, self.checkpoint_of(None), cfg.sinks)
        await actor.ready.remote()
        return actor

    def make_aggregator(self, index: int, restored_why: str | None = None) -> Any:
        """Creates aggregator ``index``; it restores its checkpoint if one exists (it
        replaces one that died, or the run resumes: ``restored_why`` says what was lost)."""
        cfg = self.config
        return AggregatorActor.options(**self.state_placement()).remote(
            cfg.sinks, self.run_id, checkpoint=self.checkpoint_of(index),
            checkpoint_s=cfg.run.checkpoint_s, alerts=self.alerts, alert_feed=self._alert_feed,
            labels=self.labels, restored_why=restored_why or "aggregator restarted")

    def make_tracker(self) -> Any:
        """Creates a tracker that keeps enough frames to replay to a new aggregator."""
        every = self.config.run.checkpoint_s
        return TrackerActor.options(**self.state_placement()).remote(
            export_dir=self.export_dir, replay_s=REPLAY_CHECKPOINTS * every, lane_every_s=every)

    def is_offline(self, cam: CameraConfig) -> bool:
        return self.offline or cam.mode == "offline"

    def continues(self, cam: CameraConfig) -> bool:
        """True if a re-created actor of ``cam`` continues exactly where the dead one
        stopped: an offline file or image folder read again (:func:`replayable`)."""
        return self.is_offline(cam) and replayable(cam)

    def first_track_id(self, camera_id: str) -> int:
        """The first track id of a camera added now (past the ids of a camera removed
        under the same id in this run)."""
        return self._next_track_ids.get(camera_id, 1)

    async def attach_tracker(self, record: CameraRecord, first_track_id: int,
                             restarted: bool = False, state: bytes | None = None) -> None:
        """Adds the camera to its record's tracker, forwarding to its aggregator;
        ``restarted``: the tracker replaces one that died (the track export resumes);
        ``state``: the dead one's saved lane of the camera, which tracking goes on from
        (``TrackerActor.add_camera``)."""
        cfg, cam = self.config, record.camera
        export = ("resume" if restarted else
                  "append" if cam.id in self._next_track_ids else "new")  # added again
        await call(record.tracker.add_camera.remote(
            cam.id, cam.tracker or cfg.tracker, cfg.smoothing if self.is_offline(cam) else None,
            record.aggregator, first_track_id, export, state, bool(cfg.sinks)))

    def new_record(self, camera: CameraConfig, added_by: str,
                   pending: list[CameraRecord] | tuple[CameraRecord, ...] = ()) -> CameraRecord:
        """A record for a new camera, hosted by the least loaded tracker and aggregator
        (counting the cameras that run and ``pending``, those about to start)."""
        records = [*self.records.values(), *pending]
        held = self.resuming.get(camera.id)
        return CameraRecord(camera, added_by, least_loaded(records, self.trackers, "tracker"),
                            least_loaded(records, self.aggregators, "aggregator")
                            if held is None else self.aggregators[held])

    # -- cameras -----------------------------------------------------------------------
    async def launch(self, record: CameraRecord, reuse: Any = None) -> None:
        """Places and starts a new camera's actor (:meth:`place`) and lists it in
        :attr:`actors` (:meth:`adopt`: a tracker or aggregator re-created while it was
        being placed is handed to it).

        Raises:
            PanorayError: the actor did not start within ``ray.camera_start_timeout_s``.
        """
        hosts = (record.tracker, record.aggregator)
        actor = await self.place(record, reuse=reuse)
        await self.adopt(record, actor, hosts)  # a host re-created meanwhile is handed over

    async def place(self, record: CameraRecord, resume: bool = False, reuse: Any = None) -> Any:
        """Creates and starts the camera's actor and returns it, not yet listed in
        :attr:`actors`; its tracker and aggregator are told first (on a resume, a file or
        image folder read again goes on after the last frame its tracker got; a live
        camera's new actor is spliced onto its timeline by the tracker). ``reuse``: the actor
        of an ended camera with the same placement, which takes this one instead of a new
        actor (``CameraActor.reload``). May take up to ``ray.camera_start_timeout_s``
        (the cluster may have to grow): never call it under :attr:`lock`. Cancelled or
        failed, it kills the actor it created or was given.

        Raises:
            PanorayError: the actor did not start within ``ray.camera_start_timeout_s``.
        """
        cfg, cam = self.config, record.camera
        offline = self.is_offline(cam)
        resume_after = None
        replay = resume and replayable(cam)
        # a camera of a resumed run that its aggregator restored: its lane goes on from
        # the checkpoint's (else a new one from the file's start), its aggregator drops
        # the frames it had, its tracks are appended; a source that cannot be read again
        # starts a new session after the checkpoint's last frame (pipeline.sinks.resume)
        held = not resume and self.resuming.get(cam.id) is not None
        timeout = cfg.ray.camera_start_timeout_s
        actor = reuse
        try:
            if replay:  # the source read again goes on after the frames delivered
                resume_after = await call(record.tracker.source_frame_index.remote(cam.id))
            if resume and not (replay and offline):  # live: a new session on its timeline
                await record.tracker.resume_camera.remote(cam.id)
            elif held:
                plan = self.resume
                assert plan is not None  # the cameras held are its plan's
                lane = plan.lanes.get(cam.id)
                await self.attach_tracker(record, self.first_track_id(cam.id), restarted=True,
                                          state=lane)
                if not self.continues(cam):  # a new session, after its checkpoint's last frame
                    await call(record.tracker.resume_camera.remote(
                        cam.id, plan.last.get(cam.id), TRACK_ID_MARGIN if lane else 0))
                if lane is not None and replayable(cam):
                    resume_after = await call(record.tracker.source_frame_index.remote(cam.id))
            elif not resume:
                await record.aggregator.add_camera.remote(cam.id, cfg.analytics_for(cam),
                                                          record.geometry_version)
                await self.attach_tracker(record, self.first_track_id(cam.id))
            run_as = cam.model_copy(update={"mode": "offline"}) if offline else cam
            if reuse is None:
                actor = start_camera(run_as, self.detector_caller, record.tracker,
                                     record.aggregator, blur_people=cfg.privacy.blur_people,
                                     spread=cfg.ray.camera_placement == "spread")
            else:
                await call(reuse.reload.remote(run_as, record.tracker, record.aggregator))
            started = actor.start.remote(resume_after)
            try:
                await asyncio.wait_for(awaitable(started), timeout)
            except TimeoutError:
                raise PanorayError(
                    f"camera {cam.id!r}: its actor did not start within {timeout:.0f} s "
                    f"(ray.camera_start_timeout_s; is there a node with "
                    f"{cam.placement.num_cpus} free CPU"
                    f"{' and ' + str(cam.placement.resources) if cam.placement.resources else ''}?)"
                ) from None
        except BaseException:  # a host died, the actor did not start, or cancelled
            if actor is not None:
                kill_actor(actor)
            if not resume:
                await quietly(record.tracker.remove_camera.remote(cam.id))
            if not (resume or held):  # a restored one waits for the next try
                await quietly(record.aggregator.remove_camera.remote(cam.id))
            raise
        if held:
            self.resuming.pop(cam.id, None)
        return actor

    async def adopt(self, record: CameraRecord, actor: Any, hosts: tuple[Any, Any]) -> None:
        """Lists a re-created camera actor that :meth:`place` started with ``hosts``
        (tracker, aggregator); a host re-created meanwhile is handed to it. Call under
        :attr:`lock`."""
        self.actors[record.camera.id] = actor
        tracker, aggregator = hosts
        moved = (record.tracker if record.tracker is not tracker else None,
                 record.aggregator if record.aggregator is not aggregator else None)
        if moved != (None, None):
            await call(actor.set_downstream.remote(*moved))
        record.node_id = await asyncio.to_thread(actor_node, actor)

    def unlist(self, record: CameraRecord) -> None:
        """Marks a camera whose actor is gone as being re-created: its counters so far are
        kept (:meth:`CameraRecord.carry_over`) and it reports no state until its new actor
        does (a camera that had ended is not ended any more). Call under :attr:`lock`."""
        record.carry_over()
        record.last = None
        self.actors.pop(record.camera.id, None)

    async def remove(self, record: CameraRecord, keep_actor: bool = False,
                     until_written: bool = False) -> CameraStats | None:
        """Stops a camera (in-flight frames finish, its tracker releases every frame and
        its aggregator confirms them, its open windows are written) and forgets it;
        returns its final stats. A step that fails (a host died) is logged and the camera
        is forgotten all the same, unless ``until_written``: then a camera whose tracker
        or aggregator died before its windows were written is kept, its frames with its
        tracker for the host's replacement, and None is returned (remove it again once
        the supervisor has replaced the host: an offline batch loses nothing). Its actor
        is killed, unless ``keep_actor`` (it takes the next file of a batch). Call under
        :attr:`lock`."""
        cid = record.camera.id
        actor = self.actors.get(cid)
        final = lost_stats(record, "camera actor lost")
        try:
            if actor is not None:
                final = record.total(await call(actor.stop.remote()))
        except Exception as exc:  # noqa: BLE001 - a lost actor still gets removed
            final = lost_stats(record, f"camera actor lost: {type(exc).__name__}")
        host_died = written = False
        try:  # the tracker's held frames first, then the windows they close
            # False: its aggregator died, and the frames wait in the tracker for another
            host_died = not await call(record.tracker.flush_camera.remote(cid))
            if not host_died:  # a stream's outage up to now: the windows it has passed
                for agg, ids in down_by_aggregator([record]).items():
                    await call(agg.idle.remote(ids, time.time(), True))
                last = await call(record.aggregator.snapshot.remote())
                record.analytics = next((c for c in last.cameras if c.camera_id == cid), None)
                await call(record.aggregator.remove_camera.remote(cid))
                written = True
                if self.alerts is not None:
                    await self.forget_in_alerts(cid)
        except Exception as exc:  # noqa: BLE001 - its checkpoint's replacement writes it
            host_died = isinstance(exc, RayActorError) and not written
            if not host_died:
                log.error("camera %s: removing it failed: %s", cid, type(exc).__name__)
        if host_died and until_written:
            log.warning("camera %s: a host died while it was removed; it is removed again "
                        "once the host is re-created", cid)
            return None
        if host_died:
            log.error("camera %s: a host died before its windows were written (an "
                      "aggregator's replacement writes them from its checkpoint)", cid)
        try:
            self._next_track_ids[cid] = await call(record.tracker.next_track_id.remote(cid))
            await call(record.tracker.remove_camera.remote(cid))
        except Exception as exc:  # noqa: BLE001 - its tracker died: ids move on a lot
            self._next_track_ids[cid] = self._next_track_ids.get(cid, 1) + TRACK_ID_MARGIN
            log.error("camera %s: its tracker did not remove it: %s", cid, type(exc).__name__)
        finally:
            if self.actors.get(cid) is actor:
                self.actors.pop(cid, None)
            if actor is not None and not keep_actor:
                kill_actor(actor)
            self.records.pop(cid, None)
            self.removed[cid] = (record, final)
            while len(self.removed) > MAX_REMOVED_KEPT:
                self.removed.popitem(last=False)
        return final

    async def forget_in_alerts(self, camera_id: str) -> None:
        """Tells the alerts actor that a camera was removed; one that died first is told
        by the supervisor once it is re-created (:attr:`unforgotten`)."""
        try:
            await call(self.alerts.forget_camera.remote(camera_id))
        except RayActorError:
            self.unforgotten.add(camera_id)

    def report_states(self, stats: dict[str, CameraStats]) -> None:
        """Sends cameras' states to the alerts actor (``camera_offline`` rules)."""
        if self.alerts is not None and stats:
            now = time.time()  # read just now: known until then
            self.alerts.camera_states.remote(
                [CameraStatus(cid, s.state, s.state_since, now) for cid, s in stats.items()])

    async def alerts_view(self) -> dict[str, Any] | None:
        """Open alerts, recent events, group sums and sink counters; None without rules."""
        return None if self.alerts is None else await call(self.alerts.view.remote())

    async def snapshots(self, timeout_s: float = CALL_TIMEOUT_S, aligned: bool = False
                        ) -> list[AggregatorSnapshot | None]:
        """Live analytics of every aggregator that answers within ``timeout_s``
        (``aligned``: one per aggregator, in order, None where one did not)."""
        got = await asyncio.gather(*(asyncio.wait_for(awaitable(a.snapshot.remote()), timeout_s)
                                     for a in self.aggregators), return_exceptions=True)
        return [s if isinstance(s, AggregatorSnapshot) else None for s in got
                if aligned or isinstance(s, AggregatorSnapshot)]

    async def shutdown(self, timeout_s: float, repair: Callable[[], Awaitable[Any]]
                       ) -> tuple[dict[str, tuple[CameraRecord, CameraStats]],
                                  list[AggregatorSnapshot], list[Any]]:
        """Stops cleanly, in order, in at most about ``timeout_s``: ``repair`` re-creates
        hosts that died (an aggregator from its checkpoint); cameras finish their
        in-flight frames; ``repair`` again; trackers confirm every frame; every
        aggregator writes its open windows and flushes its sinks; then every actor is
        killed. A step that fails or runs out of time is logged and the next one runs.
        Returns each camera's record and final stats (removed cameras included), the
        aggregators' last snapshots and the trackers' flush results. Call under :attr:`lock`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s

        def left(share: float = 1.0) -> float:
            return max(MIN_STEP_S, (deadline - loop.time()) * share)

        await step("re-creating dead hosts", repair(), left(0.2))
        ids = list(self.records)
        stops = await bounded([self.actors[cid].stop.remote(left(0.5)) if cid in self.actors
                                else None for cid in ids], left(0.5) + 1.0)
        final: dict[str, tuple[CameraRecord, CameraStats]] = {}
        for cid, res in zip(ids, stops, strict=True):
            record = self.records[cid]
            if isinstance(res, CameraStats):
                final[cid] = (record, record.total(res))
            else:
                log.error("camera %s did not stop cleanly: %s", cid, type(res).__name__)
                final[cid] = (record, lost_stats(record, "did not stop cleanly"))
        await step("re-creating dead hosts", repair(), left(0.3))
        flushed = await bounded([t.flush.remote() for t in self.trackers], left(0.5),
                                "tracker flush")
        await bounded([a.idle.remote(ids, time.time(), True) for a, ids in  # their outages
                       down_by_aggregator(self.records.values()).items()], left(0.2))
        before = await self.snapshots(left(0.2), aligned=True)  # where a close fails
        closed = await bounded([a.close.remote() for a in self.aggregators], left(),
                               "aggregator close")
        snapshots = [s for b, c in zip(before, closed, strict=True)
                     if (s := c if isinstance(c, AggregatorSnapshot) else b) is not None]
        if self.alerts is not None:  # after the aggregators' last samples
            await step("closing alerts", call(self.alerts.close.remote(), left()), left())
            kill_actor(self.alerts)
        list(map(kill_actor, [*self.actors.values(), *self.trackers, *self.aggregators]))
        self.actors.clear()
        for cid, pair in self.removed.items():
            final.setdefault(cid, pair)
        return final, snapshots, flushed
