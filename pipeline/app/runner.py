"""Starts, watches and stops one deployment: the driver side of ``panoray run``.

    camera actors ──frames──▶ Detector (Serve, batched) ──▶ tracker actors ──▶ aggregator
    (one per camera)                                        (cameras spread)    actors ──▶ Parquet

The actor graph belongs to a named controller actor (:mod:`actors.controller_actor`,
``panoray-controller`` in the run's Ray namespace), so that the HTTP API can add and
remove cameras while the pipeline runs and the controller can re-create cameras whose
node was lost. This driver joins Ray, deploys the detector and HTTP API, starts the
controller and polls it.

Each camera actor awaits its tracker call before forwarding the next frame, and each
tracker bounds its unconfirmed aggregator calls, so in offline mode backpressure reaches
the decoder and nothing is dropped. Shutdown is ordered so that nothing is lost: cameras
finish their in-flight frames, trackers confirm every forwarded frame and write the track
export, aggregators close their windows and flush their sinks.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.controller_actor import CONTROLLER_NAME, CONTROLLER_NUM_CPUS, PipelineController
from pipeline.app.serving import init_ray, start_serving
from pipeline.control.views import CameraRow
from pipeline.errors import PanorayError
from pipeline.ingest.decoder import replayable
from pipeline.ingest.health import CameraState, CameraStats
from pipeline.redact import redact_url
from pipeline.site_config import SiteConfig
from pipeline.sinks.checkpoint import RunLock
from pipeline.sinks.recovery import recover_orphans, recover_run
from pipeline.sinks.resume import ResumePlan, find_resumable, fingerprint, plan_resume

log = logging.getLogger(__name__)

ACTOR_CALL_TIMEOUT_S = 60.0
SHUTDOWN_MARGIN_S = 15.0
"""Added to ``run.shutdown_timeout_s`` before the driver stops waiting for the
controller's shutdown (its steps are bounded by that timeout; this covers the calls)."""
START_POLL_S = 0.2
"""How often start-up looks whether it was asked to stop."""
NAME_RELEASE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    """Command-line overrides of a run.

    Attributes:
        output_dir: the directory of the Parquet sinks (``sinks[].root``).
        offline: process every camera in offline mode (no drops, as fast as possible).
        export_tracks: directory for per-camera MOTChallenge track files, or None.
        address: Ray cluster address, overriding ``ray.address``.
        duration_s: overrides ``run.duration_s``.
    """

    output_dir: pathlib.Path | None = None
    offline: bool = False
    export_tracks: pathlib.Path | None = None
    address: str | None = None
    duration_s: float | None = None


class PipelineRunner:
    """Starts, watches and stops one deployment on Ray.

    Args:
        config: the validated site config.
        options: command-line overrides.
        detector: a DeploymentHandle of an already running Detector to use instead of
            deploying one (several runs in one Ray session, as in tests).
    """

    def __init__(
        self, config: SiteConfig, options: RunOptions | None = None, detector: Any = None
    ) -> None:
        self.options = options or RunOptions()
        self.config = config.with_output(self.options.output_dir)
        self.output_dir = self.config.output_dir
        self.controller: Any = None
        self.started_at = 0.0
        self.detector: Any = detector
        self.run_id = uuid.uuid4().hex
        self.recovered_runs: dict[str, dict[str, int]] = {}
        self._locks: list[RunLock] = []
        self._checkpoint_lock: RunLock | None = None  # on the first sink's output
        self.stopped_early = False  # stopped during start-up, before the controller existed
        # Cameras whose output a lost controller may cut short (see :meth:`recover`): the
        # configured ones not yet listed by a status, and those listed not finished.
        self._configured = {c.id for c in self.config.cameras}
        self._unlisted = set(self._configured)
        self._unfinished: set[str] = set()
        # Resuming (pipeline.sinks.resume): the config's fingerprint (None: no sink, so no
        # checkpoints to resume from), the plan of the dead run this one goes on from, the
        # cameras it had finished, and one entry per resume.
        self._fingerprint = resume_fingerprint(self.config, self.options)
        self._plan: ResumePlan | None = None
        self._done: set[str] = set()
        self._resumes = 0  # resumes after a lost controller
        self._lost = ""  # why, when the controller died and was not replaced
        self.resumed: list[dict[str, Any]] = []

    # -- start -------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None) -> None:
        """Joins or starts Ray, deploys the detector and HTTP API, starts the controller
        and through it every actor. When ``stop`` is set meanwhile (a signal), returns as
        soon as the detector's deploy sees it (within a fraction of a second) or the
        controller exists; :meth:`shutdown` then ends the start-up cleanly.

        Raises:
            ConfigError: the HTTP API would be reachable from other machines without a
                token, or an output folder cannot be written (checked before anything
                starts).
            PanorayError: another pipeline runs in this namespace, or a camera did not start.
        """
        cfg = self.config
        cfg.http.check_exposure()
        cfg.check_outputs(self.options.export_tracks)
        self._claim_output()
        init_ray(self.options.address or cfg.ray.address, namespace=cfg.ray.namespace,
                 dashboard=cfg.ray.dashboard)
        if _named_actor(cfg.ray.namespace) is not None:
            raise PanorayError(
                f"a pipeline already runs in Ray namespace {cfg.ray.namespace!r} (actor "
                f"{CONTROLLER_NAME!r}); stop it, or set ray.namespace to run another beside it"
            )
        if self.detector is None:
            self.detector = start_serving(cfg.model, cfg.serving, cfg.http, access_logs=False,
                                          namespace=cfg.ray.namespace, stop=stop,
                                          api_optional=True)
        if stop is not None and stop.is_set():  # before the controller: nothing to stop
            self.stopped_early = True
            log.warning("stopped during start-up")
            return
        self.started_at = time.monotonic()
        if not self._start_controller(stop):
            return
        self.started_at = time.monotonic()
        log.info("pipeline started: %d cameras, output in %s", len(cfg.cameras), self.output_dir)

    def _start_controller(self, stop: threading.Event | None) -> bool:
        """Creates the controller (resuming :attr:`_plan` when set) and starts through it
        every actor; False when ``stop`` was set meanwhile.

        Raises:
            PanorayError: a camera did not start.
        """
        cfg = self.config
        options: dict[str, Any] = {"name": CONTROLLER_NAME, "namespace": cfg.ray.namespace,
                                   "num_cpus": CONTROLLER_NUM_CPUS}
        if cfg.ray.state_on_driver_node:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=True)
        export = self.options.export_tracks
        self.controller = PipelineController.options(**options).remote(
            cfg, self.detector, self.options.offline, str(export.resolve()) if export else None,
            self.run_id,
            alert_env=cfg.alerts.secrets_from(os.environ) if cfg.alerts else None,
            resume=self._plan,
        )
        started = self.controller.start.remote()
        try:
            while not ray.wait([started], timeout=START_POLL_S)[0]:
                if stop is not None and stop.is_set():
                    log.warning("stopped during start-up")
                    return False
            ray.get(started)
        except BaseException:
            self._kill_controller()
            raise
        return True

    def _resume_after_loss(self, stop: threading.Event) -> bool:
        """The controller died: resumes the run from its checkpoints with a new one when
        it has some (a sink) and ``run.resume_attempts`` allows (live cameras too:
        :mod:`pipeline.sinks.resume`); returns whether it did (else the checkpoints are
        written at shutdown)."""
        if not self.config.sinks or self._resumes >= self.config.run.resume_attempts:
            return False
        self._kill_controller()
        self._lost = "the pipeline controller is gone and the run could not be resumed"
        plan = plan_resume(self.config.sinks[0].root, self.run_id, "controller lost")
        if plan is None:
            return False
        self._resumes += 1
        self._take_plan(plan)
        try:
            started = self._start_controller(stop)
        except (PanorayError, ray.exceptions.RayActorError) as exc:
            log.error("the run could not be resumed: %s", exc)
            return False
        self._lost = ""
        return started

    def _take_plan(self, plan: ResumePlan) -> None:
        """Resumes ``plan``'s run: its id, and its cameras done (see :attr:`resumed`)."""
        self._plan, self.run_id = plan, plan.run_id
        self._done.update(plan.done)
        self._unlisted -= plan.done
        self.resumed.append({"run_id": plan.run_id, "why": plan.why, "done": len(plan.done),
                             "continued": sorted(plan.hosts)})
        log.warning("resuming run %s (%s) from its checkpoints: %d camera(s) continue, %d "
                    "done, %d start afresh", plan.run_id, plan.why, len(plan.hosts),
                    len(plan.done), len(self._configured - plan.done - set(plan.hosts)))

    # -- watch -------------------------------------------------------------------------
    def _ask(self, ref: ray.ObjectRef) -> Any:
        """The result of a controller call (``self.controller.<method>.remote()``).

        Raises:
            PanorayError: the controller is gone (its node was lost).
        """
        try:
            return ray.get(ref, timeout=ACTOR_CALL_TIMEOUT_S)
        except ray.exceptions.RayActorError as exc:
            raise PanorayError(f"the pipeline controller is gone: {type(exc).__name__}") from None

    def call(self, method: str, *args: Any) -> Any:
        """The result of the controller's ``method`` (``live``, ``add_camera``, ...)."""
        return self._ask(getattr(self.controller, method).remote(*args))

    def camera_stats(self) -> dict[str, CameraStats]:
        """Every camera's counters, summed over restarts of its actor (a camera whose actor
        is gone reports its last counters)."""
        return self._ask(self.controller.camera_stats.remote())

    def status(self) -> list[CameraRow]:
        """One row per camera for the live table (cameras added at run time included).

        Raises:
            PanorayError: the controller is gone (its node was lost).
        """
        rows = self._ask(self.controller.status.remote())
        before = self._open_cameras()
        self._unlisted.difference_update(r.camera_id for r in rows)
        self._unfinished = {r.camera_id for r in rows if not CameraState(r.state).terminal}
        if self._open_cameras() != before:
            self._note_cameras()
        return rows

    def finished(self, rows: list[CameraRow]) -> bool:
        """True when there are cameras and every one is in a terminal state (files ended,
        sources failed), and an offline batch has removed its every file. A run whose
        cameras were all removed through the API goes on; a resumed run whose every
        camera was done goes no further."""
        if not rows:
            return bool(self._done) and self._done >= self._configured
        return (all(CameraState(r.state).terminal for r in rows)
                and self.call("batch_done"))

    def wait(self, stop: threading.Event, on_status: Any = None) -> str:
        """Runs until the sources end, the duration passes or ``stop`` is set.

        Args:
            stop: set from a signal handler to stop the run.
            on_status: called with the status rows at every refresh.

        Returns:
            ``ended``, ``duration``, ``stopped`` or ``lost`` (the controller is gone): why
            the run ended.
        """
        duration = self.options.duration_s or self.config.run.duration_s
        interval = self.config.run.status_interval_s
        while True:
            if stop.is_set():
                return "stopped"
            try:
                rows = self.status()
                ended = self.finished(rows)
            except PanorayError as exc:
                log.error("%s", exc)
                if self._resume_after_loss(stop) or stop.is_set():
                    continue  # resumed (or stopped while resuming: stops below)
                return "lost"
            if on_status is not None:
                on_status(rows)
            if stop.is_set():
                return "stopped"
            if ended:
                return "ended"
            if duration is not None and time.monotonic() - self.started_at >= duration:
                return "duration"
            stop.wait(interval)

    # -- stop --------------------------------------------------------------------------
    def shutdown(self) -> dict[str, Any]:
        """Stops cleanly, whatever died, within ``run.shutdown_timeout_s`` (plus a margin):
        in-flight frames finish, every sink is flushed. Returns a summary (cameras removed
        during the run included). When the controller is lost (or does not finish in
        time), the aggregators' checkpoints are written instead and the summary says so
        under ``error``."""
        budget = self.config.run.shutdown_timeout_s + SHUTDOWN_MARGIN_S
        error = self._lost  # the controller died and the run could not be resumed
        if self.controller is None and not error:  # stopped, or failed, before it existed
            outcome = ({"stopped": "during start-up"} if self.stopped_early
                       else {"error": "the pipeline did not start"})
            return self._release_output({"cameras": {}, **outcome, "run_id": self.run_id,
                                         "output_dir": str(self.output_dir)})
        try:
            if not error:
                summary = ray.get(self.controller.shutdown.remote(), timeout=budget)
        except (PanorayError, ray.exceptions.RayActorError) as exc:
            error = f"the pipeline controller is gone ({type(exc).__name__})"
        except ray.exceptions.GetTimeoutError:
            error = f"the shutdown did not finish within {budget:.0f} s"
        finally:
            self._kill_controller()
        if error:
            log.error("%s; writing what the checkpoints hold", error)
            summary = {"cameras": {}, "error": error,
                       "recovered": self.recover(f"run lost: {error}")}
        summary["run_id"] = self.run_id
        summary["output_dir"] = str(self.output_dir)
        summary["wall_s"] = round(time.monotonic() - self.started_at, 2)
        return self._release_output(summary)

    def _claim_output(self) -> None:
        """Marks this run alive on each sink's output (:class:`RunLock`), first taking
        over a dead run of the same config that it can resume
        (:func:`~pipeline.sinks.resume.find_resumable`), and writes the checkpoints that
        other runs whose driver died left there (:func:`recover_orphans`)."""
        roots = list(dict.fromkeys(s.root for s in self.config.sinks))
        if self._fingerprint is not None and roots:
            cfg, opts = self.config, self.options
            reads_again = all((opts.offline or c.mode == "offline") and replayable(c)
                              for c in cfg.cameras)
            try:
                plan = find_resumable(roots[0], self.run_id, self._fingerprint,
                                      max_age_s=None if reads_again else cfg.run.resume_within_s)
            except OSError as exc:
                log.warning("output %s: earlier runs not checked: %s", roots[0], exc)
                plan = None
            if plan is not None:
                self._take_plan(plan)
        for root in roots:
            try:
                self._locks.append(RunLock(root, self.run_id))
                if root == roots[0]:  # where the checkpoints are
                    self._checkpoint_lock = self._locks[-1]
                self.recovered_runs.update(recover_orphans(root, self.run_id))
            except OSError as exc:
                log.warning("output %s: earlier runs' checkpoints not checked: %s", root, exc)
        self._note_cameras()

    def _release_output(self, summary: dict[str, Any]) -> dict[str, Any]:
        for lock in self._locks:
            lock.release()
        self._locks.clear()
        self._checkpoint_lock = None
        if self.recovered_runs:
            summary["recovered_runs"] = self.recovered_runs
        if self.resumed:
            summary["resumed"] = self.resumed
        return summary

    def recover(self, why: str) -> dict[str, Any]:
        """Writes the run's aggregator checkpoints (see :mod:`pipeline.sinks.recovery`),
        and a gap from the start for each camera of the run that no checkpoint held (one
        still being placed or queued, as of the last status read, or configured and not yet
        listed); returns the counts, the cameras recovered and those ``unrecovered``."""
        out: dict[str, Any] = {"checkpoints": 0, "windows": 0, "rows": 0, "cameras": [],
                               "unrecovered": []}
        for i, sink in enumerate(self.config.sinks):  # checkpoints are under the first
            cameras = self._open_cameras() if i == 0 else ()
            for key, value in recover_run(sink.root, self.run_id, why, cameras).items():
                out[key] = sorted({*out[key], *value}) if isinstance(value, list) else (
                    out[key] + value)
        return out

    def _open_cameras(self) -> set[str]:
        """The cameras whose output the run's loss would cut short (see :meth:`recover`)."""
        return self._unlisted | self._unfinished

    def _note_cameras(self) -> None:
        """Keeps the open cameras in the run's lock on the first sink's output (where the
        checkpoints are), for the run that recovers this one if the driver dies
        (:func:`~pipeline.sinks.recovery.recover_orphans`)."""
        if self._checkpoint_lock is None:  # no sink, or its lock could not be taken
            return
        try:
            self._checkpoint_lock.note_cameras(self._open_cameras(), self._fingerprint)
        except OSError as exc:
            log.warning("output %s: the run's cameras not noted: %s",
                        self._checkpoint_lock.path, exc)

    def _kill_controller(self) -> None:
        """Kills the controller and waits until its name is free for the next run."""
        if self.controller is None:
            return
        try:
            ray.kill(self.controller)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.controller = None
        deadline = time.monotonic() + NAME_RELEASE_TIMEOUT_S
        while _named_actor(self.config.ray.namespace) is not None:
            if time.monotonic() > deadline:
                log.warning("the controller's name was not released within %.0f s",
                            NAME_RELEASE_TIMEOUT_S)
                return
            time.sleep(0.1)


def resume_fingerprint(config: SiteConfig, options: RunOptions) -> str | None:
    """The fingerprint a run resuming this one must match
    (:func:`~pipeline.sinks.resume.fingerprint`: what decides the output, not the HTTP
    API or the run's length, nor the passwords in URLs, which are masked before hashing:
    a hash is no place for a secret), or None when the run cannot be resumed: it has no
    sink (no checkpoints)."""
    if not config.sinks:
        return None
    data = json.dumps(_urls_redacted(config.model_dump(mode="json", exclude={
        "http": True, "run": True})), sort_keys=True)
    export = options.export_tracks
    return fingerprint(data, options.offline, str(export.resolve()) if export else None)


def _named_actor(namespace: str) -> Any:
    """The running controller of ``namespace``, or None."""
    try:
        return ray.get_actor(CONTROLLER_NAME, namespace=namespace)
    except ValueError:
        return None


def _urls_redacted(data: Any) -> Any:
    """``data`` (a config dumped to JSON types) with every ``url`` masked (redact_url)."""
    if isinstance(data, dict):
        return {k: redact_url(v) if k == "url" and isinstance(v, str) else _urls_redacted(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [_urls_redacted(v) for v in data]
    return data
