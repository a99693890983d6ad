"""The deployment config: one YAML file describes cameras, model, serving, tracker,
analytics, sinks, privacy, HTTP and Ray.

Example (YAML)::

    cameras:
      - id: entrance
        url: rtsp://viewer:secret@10.0.0.5/stream1
        zones:
          - {id: lobby, points: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}
        lines:
          - {id: door, start: [0.5, 0.2], end: [0.5, 0.9]}
    model: {threshold: 0.4}
    sinks:
      - {type: parquet, root: ./panoray-output}

Load it with :func:`load_site_config`; errors name the key path and line.
"""

from __future__ import annotations

import pathlib
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from models.config import ModelConfig, ServingConfig
from pipeline.alerts.config import AlertsConfig, check_rule_classes, check_rule_targets
from pipeline.analytics.classes import check_model_keeps
from pipeline.analytics.config import AnalyticsConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig, check_entrance_lines
from pipeline.analytics.groups import ZoneGroupConfig, check_group_targets
from pipeline.config import ConfigIssue, StrictModel, load_config_file
from pipeline.errors import ConfigError, ConfigFileError, ModelError
from pipeline.http_config import HttpConfig, check_media_root
from pipeline.ingest.config import CameraConfig
from pipeline.sinks import ParquetSinkConfig, SinkConfig
from pipeline.tracking.config import SmoothingConfig, TrackerConfig

class PrivacyConfig(StrictModel):
    """What may leave the pipeline."""

    blur_people: bool = Field(
        True,
        description="Blur people in every image that leaves the pipeline (stills, heatmap "
        "backgrounds). Turning it off is the operator's explicit decision.",
    )


def check_ray_address(address: str | None, source: str) -> None:
    """Refuses an ``http(s)://`` address (``source`` names where it was set: ``--address``,
    ``ray.address``, ``$RAY_ADDRESS``): that is the Ray dashboard's job API, which ``ray
    job submit`` takes, not a cluster a driver can join.

    Raises:
        ConfigError: ``address`` is an HTTP URL.
    """
    if address and address.split("://", 1)[0].lower() in ("http", "https"):
        raise ConfigError(
            "an http(s):// address is the Ray dashboard's job API (for `ray job "
            "submit --address`), not a cluster to join: give the cluster's address "
            "(host:6379), `auto`, or `ray://host:10001`", source)



class RayConfig(StrictModel):
    """Which Ray cluster runs the pipeline."""

    address: str | None = Field(
        None, description="Cluster address (`auto`, `ray://...`, host:port); unset: local "
        "(or $RAY_ADDRESS, as set inside a Ray job).",
    )
    namespace: str = Field("panoray", min_length=1, description="Ray namespace of the actors.")

    @field_validator("address")
    @classmethod
    def _cluster_address(cls, value: str | None) -> str | None:
        check_ray_address(value, "ray.address")
        return value

    dashboard: bool = Field(False, description="Start Ray's dashboard (web UI, `ray list`) "
                            "with a local Ray instance; off, its modules' processes do not run.")
    tracker_actors: int = Field(1, ge=1, le=1024,
                                description="Tracker actors; cameras are spread over them.")
    aggregator_actors: int = Field(1, ge=1, le=1024,
                                   description="Aggregator actors; cameras are sharded over them.")
    camera_placement: Literal["spread", "default"] = Field(
        "spread",
        description="`spread`: camera actors are spread over the nodes that can host them "
        "(each node decodes a share; losing one node loses few cameras). `default`: Ray "
        "packs them on as few nodes as fit.",
    )
    state_on_driver_node: bool = Field(
        True,
        description="Place the pipeline controller, trackers and aggregators on the node "
        "of the driver (the head node for `ray job submit`), so that losing a worker node "
        "never loses analytics state or output files; if that node is full they go "
        "elsewhere.",
    )
    camera_check_interval_s: float = Field(
        2.0, gt=0, le=60,
        description="How often the controller checks that every camera actor is alive "
        "(a camera whose actor died, for example with its node, is re-created) (s).",
    )
    camera_start_timeout_s: float = Field(
        120.0, gt=0, le=3600,
        description="Longest a camera actor may take to be placed and started (s). Then a "
        "camera of the config placed at start-up stops the run's start (exit 1, naming "
        "it), one added through the API is refused (503), and a file an offline batch "
        "queued is reported failed while the others go on. Raise it on autoscaling "
        "clusters, where a node that can host the camera may take minutes to boot.",
    )
    max_camera_restarts: int | None = Field(
        None, ge=0,
        description="Times one camera's actor is re-created after it died; unset: always.",
    )
    max_concurrent_offline: int | None = Field(
        None, ge=1, le=100_000,
        description="Offline cameras (files) processed at once when they do not all fit: "
        "the others wait in a queue and start, in config order, as running ones end. "
        "Unset: as many as the cluster's free resources host when the run starts (each "
        "camera reserving its placement.num_cpus and resources).",
    )


class RunConfig(StrictModel):
    """How long a run lasts and how it reports."""

    duration_s: float | None = Field(
        None, gt=0, description="Stop after this many wall seconds; unset: until the sources "
        "end (offline) or until stopped (live).",
    )
    status_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the live status table refreshes (s)."
    )
    checkpoint_s: float = Field(
        2.0, gt=0, le=600, description="Media seconds between checkpoints of each "
        "aggregator's state (and before every write): a lost controller or driver loses at "
        "most this much of a camera's events plus what the trackers held.",
    )
    shutdown_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Longest a shutdown may take (cameras finish "
        "in-flight frames, trackers and sinks flush), whatever died; what is left after "
        "it is abandoned and the run still ends (s).",
    )
    resume_attempts: int = Field(
        3, ge=0, le=100, description="How many times in a run the driver resumes it from "
        "its checkpoints when the pipeline controller dies (needs a sink): offline files "
        "and image folders lose nothing, live cameras what came after each checkpoint and "
        "the outage. 0: write the checkpoints out and stop (exit 1).",
    )
    resume_within_s: float = Field(
        600.0, ge=0, le=86_400, description="A run with live cameras whose driver died is "
        "resumed by the next run of the same config on the same output only within this "
        "many seconds of its last checkpoint (its windows between go out empty and "
        "incomplete); after that its checkpoints are written out and the run starts "
        "afresh. A run of nothing but files and image folders is resumed whenever (s).",
    )


class SiteConfig(StrictModel):
    """A whole deployment."""

    # Validation errors would otherwise echo the input: camera passwords, the API token.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    cameras: tuple[CameraConfig, ...] = Field(description="The cameras (at least one).")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The detector.")
    serving: ServingConfig = Field(default_factory=ServingConfig,
                                   description="Detector replicas and batching.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig,
                                   description="Default tracker settings.")
    smoothing: SmoothingConfig | None = Field(
        default_factory=SmoothingConfig,
        description="Offline runs only: join broken tracks, interpolate short gaps and "
        "smooth boxes before analytics (frames are held for `lookahead_s`). Unset turns it "
        "off.",
    )
    analytics: AnalyticsConfig = Field(
        default_factory=AnalyticsConfig,
        description="Windows, suppression and heatmaps of every camera; zones and lines "
        "are each camera's (`cameras[].zones`, `cameras[].lines`).",
    )
    sinks: tuple[SinkConfig, ...] = Field(
        default_factory=lambda: (ParquetSinkConfig(),),
        max_length=16, description="Where events, metrics and heatmaps go, each sink chosen "
        "by its `type`.",
    )
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="Blurring.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP API.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster.")
    run: RunConfig = Field(default_factory=RunConfig, description="Run length.")
    groups: tuple[ZoneGroupConfig, ...] = Field(
        (), max_length=1024,
        description="Zone groups: zones on several cameras whose occupancy is summed (an "
        "upper bound where views overlap); alert rules may name them.",
    )
    flows: SiteFlowsConfig = Field(
        default_factory=SiteFlowsConfig,
        description="Site-wide figures: people inside from entrance lines, and how often "
        "they and the groups' sums are recorded.",
    )
    alerts: AlertsConfig | None = Field(
        None, description="Alert rules, their sinks (webhook, MQTT) and the outbox; unset: "
        "no alerts.",
    )

    @model_validator(mode="after")
    def _check(self) -> SiteConfig:
        if not self.cameras:
            raise ValueError("cameras: at least one camera is needed")
        if self.analytics.zones or self.analytics.lines:
            raise ValueError("analytics: zones and lines belong to a camera "
                             "(cameras[].zones, cameras[].lines)")
        seen: set[str] = set()
        for i, cam in enumerate(self.cameras):
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used by more than one camera")
            seen.add(cam.id)
            try:  # cross-field checks name the zone
                check_model_keeps(self.model.classes, self.analytics_for(cam),
                                  f"cameras[{i}] ({cam.id})")
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"cameras[{i}] ({cam.id}): {msg}") from None
        zones = {c.id: {z.id: z.classes for z in c.zones} for c in self.cameras}
        groups = {g.name: g.classes for g in self.groups}
        check_group_targets(self.groups, zones)
        if self.flows.occupancy is not None:
            check_entrance_lines(self.flows.occupancy, {
                c.id: {ln.id: (ln.left_to_right, ln.right_to_left) for ln in c.lines}
                for c in self.cameras})
        if self.alerts is not None:
            check_rule_targets(
                self.alerts.rules, zones, {c.id: {ln.id for ln in c.lines} for c in self.cameras},
                {c.id: {z.id for z in c.zones if z.queue} for c in self.cameras}, set(groups))
            check_rule_classes(self.alerts.rules, {c.id: {e.id: e.classes for e in (
                *c.zones, *c.lines)} for c in self.cameras}, groups)
        return self

    @field_validator("sinks")
    @classmethod
    def _distinct_roots(cls, sinks: tuple[SinkConfig, ...]) -> tuple[SinkConfig, ...]:
        """Two Parquet sinks writing one folder would write every row twice."""
        first: dict[pathlib.Path, int] = {}
        for i, sink in enumerate(sinks):
            if sink.type == "parquet":
                root = sink.root.expanduser().resolve()
                if root in first:
                    raise ValueError(f"sinks[{i}] writes to {str(sink.root)!r}, as "
                                     f"sinks[{first[root]}] does: every row would be "
                                     "written twice; give each Parquet sink its own root")
                first[root] = i
        return sinks

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: ModelConfig) -> ModelConfig:
        from models.registry import resolve_model

        try:
            resolve_model(model.name, model.family)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return model

    def config_warnings(self) -> list[str]:
        """What is allowed but likely a mistake: a plugin's ``cameras`` naming a camera
        the config lacks (it runs there only if one of that id is added through the API)."""
        ids = {c.id for c in self.cameras}
        return [f"analytics.plugins[{i}] ({p.name}): camera {c!r} is not in the config; the "
                "plugin runs there only if a camera of that id is added through the API"
                for i, p in enumerate(self.analytics.plugins) for c in p.cameras if c not in ids]

    def analytics_for(self, camera: CameraConfig) -> AnalyticsConfig:
        """The analytics of one camera: the site's settings with the camera's zones and lines.

        Raises:
            ValidationError: they do not fit together (a zone's timing longer than the
                window grace, a zone and a line of one id, ...).
        """
        settings = {name: getattr(self.analytics, name) for name in AnalyticsConfig.model_fields
                    if name not in ("zones", "lines")}
        return AnalyticsConfig(zones=camera.zones, lines=camera.lines, **settings)

    def check_outputs(self, export_tracks: pathlib.Path | None = None) -> None:
        """Refuses (ConfigError naming the setting) an output folder this process cannot
        write in: each Parquet sink's root, the track export's folder, the alert outbox's
        folder. Creates the missing ones."""
        from pipeline.sinks.files import check_writable_folder

        for i, sink in enumerate(self.sinks):
            if sink.type == "parquet":
                check_writable_folder(sink.root, f"sinks[{i}].root")
        if export_tracks is not None:
            check_writable_folder(export_tracks, "--export-tracks")
        if self.alerts is not None and self.alerts.outbox is not None:
            check_writable_folder(self.alerts.outbox.path.parent, "alerts.outbox.path")

    @property
    def output_dir(self) -> pathlib.Path | None:
        """Where the (first) Parquet sink writes, or None without one."""
        return next((s.root for s in self.sinks if s.type == "parquet"), None)

    def with_output(self, root: pathlib.Path | None = None) -> SiteConfig:
        """A copy whose Parquet sinks write under ``root`` (``panoray run --output``; one
        is added when there is none), every root made absolute: actors may run in
        another folder."""
        parquet = [s for s in self.sinks if s.type == "parquet"]
        if root is not None and len(parquet) > 1:
            raise ConfigError(f"--output {str(root)!r} would send the {len(parquet)} "
                              "Parquet sinks of the config to one folder (every row twice); "
                              "leave --output out, or keep one Parquet sink", "sinks")
        if root is not None:
            parquet = ([s.model_copy(update={"root": root}) for s in parquet]
                       or [ParquetSinkConfig(root=root)])
        parquet = [s.model_copy(update={"root": s.root.resolve()}) for s in parquet]
        others = tuple(s for s in self.sinks if s.type != "parquet")
        update: dict = {"sinks": (*parquet, *others)}
        if self.alerts is not None and self.alerts.outbox is not None:
            outbox = self.alerts.outbox.model_copy(
                update={"path": self.alerts.outbox.path.resolve()})
            update["alerts"] = self.alerts.model_copy(update={"outbox": outbox})
        return self.model_copy(update=update)


def load_site_config(path: str | pathlib.Path) -> SiteConfig:
    """Reads and validates a deployment YAML file (errors carry key path and line).

    Camera URLs that are relative file paths, and relative ``http.media_roots``, are
    resolved against the file's folder (never the working directory, whether the file is
    there or not), so a config and its clips can move together.
    """
    cfg = load_config_file(path, SiteConfig)
    base = pathlib.Path(path).resolve().parent
    cameras = []
    for cam in cfg.cameras:
        url = cam.url
        if (isinstance(url, str) and "://" not in url and not url.isdigit()
                and cam.source.kind != "usb" and not pathlib.Path(url).is_absolute()):
            cam = cam.model_copy(update={"url": str(base / url)})
        cameras.append(cam)
    roots = tuple(r if r.is_absolute() else (base / r) for r in cfg.http.media_roots)
    for i, root in enumerate(roots):
        try:
            check_media_root(root, f"http.media_roots[{i}]")
        except ValueError as exc:
            path_, _, why = str(exc).partition(": ")
            raise ConfigFileError(str(path), [ConfigIssue(path_, None, why)]) from None
    http = cfg.http.model_copy(update={"media_roots": roots})
    return cfg.model_copy(update={"cameras": tuple(cameras), "http": http})


DEMO_CONFIG = pathlib.Path(__file__).parent / "demo" / "demo.yaml"
"""The embedded demo: a real campus clip as three live cameras with zones and lines."""
