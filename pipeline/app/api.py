"""panoray's Python API: describe a site, run it to the end, or start it and steer it.

The same parts ``panoray run`` uses (the CLI is a thin layer over this module), for a Ray
job, a notebook connected to a cluster, or a test::

    from pipeline import Site, run, start
    site = Site.from_yaml("site.yaml")             # or Site(cameras=[...]) in Python
    result = run(site, offline=True, address="auto")   # blocks until the sources end
    result.summary["cameras"]; result.events(); result.metrics()   # pyarrow tables

    with start(site) as handle:                    # live: returns once every camera runs
        handle.add_camera({"id": "dock", "url": "rtsp://cam/stream"})
        handle.live()["cameras"]                   # occupancy and counts now
    handle.result.summary                          # stop() ran at the end of the block

A :class:`Site` is a :class:`~pipeline.site_config.SiteConfig` (the YAML file's model),
built from YAML, from dicts, or from the config models themselves:

    >>> site = Site(cameras=[{"id": "door", "url": "/srv/clips/door.mp4",
    ...                       "lines": [{"id": "in", "start": [0.5, 0], "end": [0.5, 1]}]}],
    ...             analytics={"window_s": 30})
    >>> site.cameras[0].lines[0].left_to_right, site.analytics.window_s
    ('in', 30.0)
    >>> [c.id for c in Site.demo().cameras]
    ['campus-a', 'campus-b', 'campus-c']
    >>> Site(cameras=[])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Site
    ...

Importing this module starts nothing; :func:`run` and :func:`start` join Ray (``address``,
else ``ray.address`` of the site, else ``$RAY_ADDRESS`` as set inside a Ray job, else a
new local instance) and leave it as they found it: a local instance they started ends
with the run, and on a cluster they remove only the Serve application they deployed.
"""

from __future__ import annotations

import logging
import pathlib
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.errors import InputError
from pipeline.ingest.config import CameraConfig
from pipeline.site_config import DEMO_CONFIG, SiteConfig, load_site_config

log = logging.getLogger(__name__)


class Site(SiteConfig):
    """A whole deployment: the model of the YAML file (every field as documented there).

    Example:
        >>> site = Site.from_yaml(DEMO_CONFIG)
        >>> site.cameras[0].id, site.cameras[0].mode
        ('campus-a', 'live')
    """

    @classmethod
    def from_yaml(cls, path: str | pathlib.Path) -> Site:
        """Reads and validates a site YAML file; relative file paths resolve against its
        folder.

        Raises:
            ConfigFileError: each error with its key path and line.
        """
        return cls.of(load_site_config(path))

    @classmethod
    def demo(cls) -> Site:
        """The embedded demo: a real campus clip as three live cameras (``panoray run``)."""
        return cls.from_yaml(DEMO_CONFIG)

    @classmethod
    def of(cls, config: SiteConfig | dict | str | pathlib.Path) -> Site:
        """A Site from a SiteConfig, a dict of the YAML's shape, or a YAML file's path."""
        if isinstance(config, cls):
            return config
        if isinstance(config, (str, pathlib.Path)):
            return cls.from_yaml(config)
        if isinstance(config, SiteConfig):
            return cls.model_validate(dict(config))
        return cls.model_validate(config)


@dataclass
class RunResult:
    """What a run left: its summary and its output, readable as Arrow tables.

    Attributes:
        summary: per camera its final state, counters, visits and crossings, and the
            run's totals (what ``panoray run`` prints); ``error`` when the run was lost.
        why: why the run ended: ``ended`` (the sources ended), ``duration``, ``stopped``
            or ``lost`` (its controller died; what the checkpoints held was written).
        run_id: the run's id (the ``run_id`` column of every row it wrote).
        output_dir: where the Parquet sink wrote, or None without one.
    """

    summary: dict[str, Any]
    why: str
    run_id: str
    output_dir: pathlib.Path | None

    @property
    def failed_cameras(self) -> list[str]:
        """Cameras that ended in ``failed``."""
        return [cid for cid, c in self.summary.get("cameras", {}).items()
                if c.get("state") == "failed"]

    def events(self) -> pa.Table:
        """This run's events (line crossings, zone enters and exits) with ``date`` and
        ``camera_id`` from the partitions; see README "Outputs"."""
        return self.table("events")

    def metrics(self) -> pa.Table:
        """This run's window metrics: one row per window and zone or line."""
        return self.table("metrics")

    def table(self, name: str) -> pa.Table:
        """One of this run's tables under the output folder: ``events``, ``metrics``,
        ``incidents``, ``alerts`` or a plugin's (``plugins/<name>``); empty (no columns)
        when the run wrote none.

        Raises:
            InputError: the run had no Parquet sink, or ``name`` leaves the output folder.
        """
        if self.output_dir is None:
            raise InputError("this run had no Parquet sink: nothing to read", "sinks")
        root = self.output_dir.resolve()
        path = (root / name).resolve()
        if root not in path.parents:
            raise InputError(f"table {name!r} is not a folder under {root}", "name")
        if not path.is_dir():
            return pa.table({})
        data = ds.dataset(path, format="parquet", partitioning="hive")
        if "run_id" not in data.schema.names:
            return data.to_table()
        return data.to_table(filter=ds.field("run_id") == self.run_id)


@dataclass
class LiveRun:
    """A started pipeline (:func:`start`): read it, add and remove cameras, stop it.

    Also a context manager that stops the run at the end of the block (its
    :class:`RunResult` is then :attr:`result`).
    """

    runner: Any
    owns_serving: bool
    result: RunResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def run_id(self) -> str:
        return self.runner.run_id

    def status(self) -> list[dict[str, Any]]:
        """One row per camera: state, reason, fps, frame counters, occupancy and counts."""
        return [asdict(row) for row in self.runner.status()]

    def live(self) -> dict[str, Any]:
        """Occupancy now and counts so far per camera, zone and line (``/v1/live``)."""
        return self.runner.call("live")

    def cameras(self) -> list[dict[str, Any]]:
        """Every camera's health, counters and config, credentials redacted."""
        return self.runner.call("cameras")

    def add_camera(self, camera: CameraConfig | dict) -> dict[str, Any]:
        """Adds and starts a camera (the config's ``cameras`` entry) without disturbing
        the others; returns its view.

        Raises:
            ValidationError: ``camera`` is not a valid camera.
            ConfigError, CameraExistsError: it does not fit the site, or its id is taken.
        """
        if not isinstance(camera, CameraConfig):
            camera = CameraConfig.model_validate(camera)
        return self.runner.call("add_camera", camera, "python")

    def remove_camera(self, camera_id: str) -> dict[str, Any]:
        """Stops a camera after its in-flight frames and writes its open windows."""
        return self.runner.call("remove_camera", camera_id)

    def wait(self, stop: threading.Event | None = None, on_status: Any = None) -> str:
        """Blocks until the sources end, ``run.duration_s`` passes or ``stop`` is set;
        returns which (``ended``, ``duration``, ``stopped``, ``lost``)."""
        return self.runner.wait(stop or threading.Event(), on_status)

    def stop(self, why: str = "stopped") -> RunResult:
        """Stops cleanly (in-flight frames finish, every window and file is written) and
        returns the result; later calls return the same result."""
        with self._lock:
            if self.result is None:
                try:
                    summary = self.runner.shutdown()
                finally:
                    if self.owns_serving:
                        from pipeline.app.serving import stop_serving

                        stop_serving()
                self.result = RunResult(summary, why, self.runner.run_id,
                                        self.runner.output_dir)
            return self.result

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(site: Site | SiteConfig | dict | str | pathlib.Path, offline: bool = False,
          address: str | None = None, *, output_dir: str | pathlib.Path | None = None,
          duration_s: float | None = None, export_tracks: str | pathlib.Path | None = None,
          detector: Any = None, stop: threading.Event | None = None) -> LiveRun:
    """Starts a site and returns once every camera runs.

    Args:
        site: the site (a :class:`Site`, a SiteConfig, a dict or a YAML path).
        offline: every camera in offline mode: files as fast as the cluster allows,
            nothing dropped.
        address: the Ray cluster (``auto``, ``ray://...``, host:port); None: the site's
            ``ray.address``, else ``$RAY_ADDRESS``, else a new local instance.
        output_dir: where the Parquet sinks write (overrides ``sinks[].root``).
        duration_s: stop :meth:`LiveRun.wait` after this many seconds.
        export_tracks: a folder for each camera's tracks as MOTChallenge text.
        detector: a DeploymentHandle of a running Detector to share (several runs in one
            Ray session); None deploys one, removed again at :meth:`LiveRun.stop`.
        stop: an event that, set during start-up (a signal), ends it early and cleanly.

    Raises:
        ConfigError: the HTTP API would be reachable without a token.
        PanorayError: another pipeline runs in the namespace, or a camera did not start
            (whatever started is stopped first).
    """
    from pipeline.app.runner import PipelineRunner, RunOptions

    cfg = Site.of(site)
    cfg.http.check_exposure()  # before anything starts
    options = RunOptions(
        output_dir=pathlib.Path(output_dir) if output_dir is not None else None,
        offline=offline,
        export_tracks=pathlib.Path(export_tracks) if export_tracks is not None else None,
        address=address, duration_s=duration_s)
    runner = PipelineRunner(cfg, options, detector=detector)
    handle = LiveRun(runner, owns_serving=detector is None)
    try:  # joins Ray, deploys the detector unless given, starts the controller
        runner.start(stop)
    except BaseException:
        handle.stop("failed")
        raise
    return handle


def run(site: Site | SiteConfig | dict | str | pathlib.Path, offline: bool = True,
        address: str | None = None, *, output_dir: str | pathlib.Path | None = None,
        duration_s: float | None = None, export_tracks: str | pathlib.Path | None = None,
        detector: Any = None, stop: threading.Event | None = None,
        on_status: Any = None) -> RunResult:
    """Runs a site until its sources end (or ``duration_s``, or ``stop``) and returns
    the result. Arguments as :func:`start`; ``offline`` defaults to True here (reprocess
    files, drop nothing), and ``on_status`` is called with the status rows at every
    refresh (``run.status_interval_s``).

    Example (a Ray job: ``ray job submit --working-dir . -- python job.py``)::

        result = run(Site.from_yaml("site.yaml"), address="auto", output_dir="/data/out")
        print(result.metrics().to_pandas().groupby("element_id").visits.sum())
    """
    handle = start(site, offline, address, output_dir=output_dir, duration_s=duration_s,
                   export_tracks=export_tracks, detector=detector, stop=stop)
    why = "failed"
    try:
        why = handle.wait(stop, on_status)
    finally:
        result = handle.stop(why)
    return result
