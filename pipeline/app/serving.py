"""Joins Ray and starts the Serve application: the Detector deployment behind the HTTP API."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import ray
from ray import serve
from ray.serve.exceptions import RayServeException
from ray.serve.handle import DeploymentHandle
from ray.serve.schema import ApplicationStatus

from models.config import ModelConfig, ServingConfig
from models.deployment import Detector, detector_options, replica_model
from pipeline.app.http_api import HttpApi
from pipeline.app.ray_env import SYSTEM_CONFIG, apply_ray_env
from pipeline.app.signals import shielded_from_sigterm
from pipeline.errors import PanorayError, error_message
from pipeline.http_config import HttpConfig
from pipeline.site_config import check_ray_address

log = logging.getLogger(__name__)

APP_NAME = "panoray"
"""The Serve application of the default Ray namespace; another namespace's is
``panoray-<namespace>`` (:func:`app_name`), so that runs in two namespaces of one cluster
keep their own detector."""
DEFAULT_NAMESPACE = "panoray"
DETECTOR_DEPLOYMENT = "Detector"
_started_local = False  # init_ray started a local Ray instance in this process
_deployed_app: str | None = None  # the Serve application start_serving deployed
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
"""Ray's logger that warns, at every local start, that token auth is on."""
ROUTE_TAKEN = "is being used by application"
"""Serve's words when another application serves the route prefix asked for."""
SERVE_CONTROLLER_TAKEN = "SERVE_CONTROLLER_ACTOR' already exists"
"""Ray's words when another process started Serve's controller at the same moment."""
DEPLOY_POLL_S = 0.2
"""How often the wait for the deployed application looks whether it was asked to stop."""


def app_name(namespace: str) -> str:
    """The Serve application of the run in Ray namespace ``namespace``."""
    return APP_NAME if namespace == DEFAULT_NAMESPACE else f"{APP_NAME}-{namespace}"


def init_ray(address: str | None = None, namespace: str = DEFAULT_NAMESPACE,
             dashboard: bool = False, **kwargs: object) -> None:
    """Joins the cluster at ``address`` (or ``$RAY_ADDRESS``, as set for Ray jobs), else
    starts a new local Ray instance, with Ray's dashboard only when ``dashboard`` is set
    (``ray.dashboard``): its processes cost CPU every second whatever the frame rate.

    A local instance never spills objects to disk: the frames sent to the detector are
    objects, and frames are not stored (a full object store makes the frame fail instead;
    in-flight frames are bounded per camera), and keeps the events of at most
    :data:`~pipeline.app.ray_env.TASK_EVENTS_KEPT` tasks. Clusters started with ``ray
    start`` get the same settings from cluster.yaml. panoray's Ray and Serve variables
    are set first (:func:`~pipeline.app.ray_env.apply_ray_env`).
    """
    apply_ray_env()
    if ray.is_initialized():
        return
    check_ray_address(address, "address")
    check_ray_address(os.environ.get("RAY_ADDRESS"), "$RAY_ADDRESS")
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        kwargs.setdefault("_system_config", SYSTEM_CONFIG)
        kwargs.setdefault("include_dashboard", dashboard)
        # Ray's default for a new local instance stays (token auth on, its token in
        # ~/.ray/auth_token; RAY_AUTH_MODE in the environment wins), without the warning
        # announcing it on every run: nothing there for a panoray user to act on.
        logging.getLogger(RAY_AUTH_LOGGER).setLevel(logging.ERROR)
    ray.init(address=address, namespace=namespace, logging_level=logging.WARNING, **kwargs)
    global _started_local
    _started_local = address == "local"


def stop_serving(drain: bool = False) -> None:
    """Removes the Serve application :func:`start_serving` deployed from a cluster this
    process joined (other applications stay; Serve itself stops once none is left); from
    a local instance :func:`init_ray` started, nothing: the instance, Serve with it, ends
    with this process (``serve.shutdown()`` there kills Serve's controller under its own
    pending ``graceful_shutdown`` call, which Ray reports as a failed task: noise at every
    exit). ``drain``: the requests in flight are answered first (Serve stops each replica
    once its requests are done, within the deployment's ``graceful_shutdown_timeout_s``)."""
    global _deployed_app
    if not ray.is_initialized():
        return
    app, _deployed_app = _deployed_app, None
    if app is not None and (drain or not _started_local):
        try:
            serve.delete(app)
        except Exception as exc:  # noqa: BLE001 - stopping goes on
            log.warning("Serve application %s was not removed: %s", app, type(exc).__name__)
    if _started_local:
        # ray.shutdown() puts back the default SIGTERM action: a SIGTERM during it would
        # kill this process before the summary. Held until the caller's handlers are back.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        with shielded_from_sigterm():
            ray.shutdown()
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
    elif app is not None:
        try:
            if not serve.status().applications:  # the cluster's last: Serve's proxies go
                serve.shutdown()
        except Exception as exc:  # noqa: BLE001 - stopping goes on
            log.warning("Serve was not stopped: %s", type(exc).__name__)


def start_serving(
    model: ModelConfig,
    serving: ServingConfig,
    http: HttpConfig,
    access_logs: bool = True,
    namespace: str = DEFAULT_NAMESPACE,
    stop: threading.Event | None = None,
    api_optional: bool = False,
) -> DeploymentHandle | None:
    """Deploys the detector and HTTP API on the connected Ray cluster, as Serve
    application :func:`app_name` of ``namespace``.

    A Ray cluster has one Serve HTTP endpoint: where another application (another
    namespace's run) already serves its root, a run (``api_optional``) deploys the
    detector alone and says that its HTTP API is not served; ``panoray serve`` fails.

    Args:
        model: the detector.
        serving: replicas and batching.
        http: the HTTP endpoint; its token is read here (``token_env``) and handed to the
            API replica, which may run where that variable is not set.
        access_logs: log every request (``panoray serve``); off for ``panoray run``.
        namespace: Ray namespace in which the runtime API looks for the pipeline
            controller (``ray.namespace`` of the run).
        stop: an event that, set meanwhile (a signal), ends the wait for the replicas
            (loading the model takes seconds) within :data:`DEPLOY_POLL_S`.
        api_optional: the detector is deployed even where the HTTP API cannot be served.

    Raises:
        ConfigError: ``http.token_env`` names a variable that is not set.
        PanorayError: the HTTP port could not be bound, the cluster's HTTP endpoint serves
            another application (unless ``api_optional``), or the application failed to
            deploy (Serve's message).

    Returns:
        A handle to the Detector deployment (``handle.detect.remote(DetectRequest)``), or
        None when ``stop`` was set first (what was deployed is left for the caller's stop).
    """
    global _deployed_app
    api_http = http.with_resolved_token()  # fails before anything starts
    try:
        _start_serve(http, access_logs)
    except RuntimeError as exc:  # Serve's proxy could not listen there
        first = error_message(exc).strip().splitlines()[-1:] or ["?"]
        raise PanorayError(f"cannot serve HTTP on {http.host}:{http.port} (is the port in "
                           f"use, or the host not an address of this machine?): "
                           f"{first[0]}") from None
    gpus = ray.cluster_resources().get("GPU", 0.0)
    options = detector_options(serving, gpus)
    model = replica_model(model, serving, gpus)
    log.info("detector: %s replicas, %s ONNX Runtime threads each",
             options.get("num_replicas", "autoscaled"), model.intra_op_threads or "all")
    detector = Detector.options(**options).bind(model, serving)
    name = app_name(namespace)
    logs = {"enable_access_log": access_logs}
    _deployed_app = name  # removed by stop_serving, even if the deploy fails half-way
    try:
        serve.run_many([serve.RunTarget(HttpApi.bind(detector, api_http, namespace), name=name,
                                        route_prefix="/", logging_config=logs)],
                       wait_for_applications_running=False)  # waited for below, stop allowed
        served = True
    except RayServeException as exc:
        if not (api_optional and ROUTE_TAKEN in str(exc)):
            raise PanorayError(f"cannot serve on this Ray cluster: {exc}") from None
        log.warning("this run's HTTP API and dashboard are not served: %s (a Ray cluster "
                    "has one Serve HTTP endpoint); the detector and pipeline run", exc)
        serve.run_many([serve.RunTarget(detector, name=name, route_prefix=None,
                                        logging_config=logs)],
                       wait_for_applications_running=False)
        served = False
    if not _wait_running(name, stop):
        log.warning("stopped while the detector was being deployed")
        return None
    if served:
        log.info("serving on http://%s:%d", http.host, http.port)
    return serve.get_deployment_handle(DETECTOR_DEPLOYMENT, app_name=name)


def _start_serve(http: HttpConfig, access_logs: bool) -> None:
    """Starts Serve on the cluster, or joins the Serve another process started (then its
    HTTP options stay: a cluster has one endpoint). Two processes starting it at once
    race for its controller's name: the loser joins the winner's."""
    options = {"http_options": {"host": http.host, "port": http.port},
               "logging_config": {"enable_access_log": access_logs}}
    try:
        serve.start(**options)
    except ValueError as exc:
        if SERVE_CONTROLLER_TAKEN not in str(exc):
            raise
        time.sleep(DEPLOY_POLL_S)
        serve.start(**options)


def _wait_running(name: str, stop: threading.Event | None) -> bool:
    """Waits until Serve application ``name`` runs (True) or ``stop`` is set (False).

    Raises:
        PanorayError: the application failed to deploy.
    """
    while True:
        app = serve.status().applications.get(name)
        if app is not None and app.status == ApplicationStatus.RUNNING:
            return True
        if app is not None and app.status == ApplicationStatus.DEPLOY_FAILED:
            raise PanorayError(f"the detector could not be deployed: {app.message}")
        if stop is not None and stop.wait(DEPLOY_POLL_S):
            return False
        if stop is None:
            time.sleep(DEPLOY_POLL_S)
