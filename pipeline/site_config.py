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

import ipaddress
import os
import pathlib
import re
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from models.config import ModelConfig, ServingConfig
from pipeline.alerts.config import AlertsConfig, check_rule_classes, check_rule_targets
from pipeline.analytics.classes import check_model_keeps
from pipeline.analytics.config import AnalyticsConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig, check_entrance_lines
from pipeline.analytics.groups import ZoneGroupConfig, check_group_targets
from pipeline.config import ConfigIssue, StrictModel, load_config_file
from pipeline.errors import ConfigError, ConfigFileError, ModelError
from pipeline.ingest.config import CameraConfig
from pipeline.sinks import ParquetSinkConfig, SinkConfig
from pipeline.tracking.config import SmoothingConfig, TrackerConfig

MIN_TOKEN_CHARS = 16
"""Shortest accepted API token (``secrets.token_urlsafe(32)`` makes a good one)."""


class HttpConfig(StrictModel):
    """The HTTP endpoint: inference, and under ``panoray run`` the runtime camera API."""

    # Validation errors would otherwise echo the input, token included.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    max_body_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="Largest accepted request body (bytes)."
    )
    max_image_side: int = Field(
        8192, ge=16, le=65536, description="Largest accepted image width or height (pixels)."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Longest an inference request may wait for the detector (s)."
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token that endpoints which change state (adding and removing "
        "cameras) require. Prefer `token_env`: a token written here is a secret in a file. "
        f"At least {MIN_TOKEN_CHARS} characters.",
    )
    token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="Name of an environment variable holding the token (for example "
        "`PANORAY_API_TOKEN`), read where `panoray run` starts.",
    )
    protect_reads: bool = Field(
        False,
        description="Require the token for the read endpoints too (camera list, camera "
        "health, live counts), not only for those that change state.",
    )
    media_roots: tuple[pathlib.Path, ...] = Field(
        (), max_length=64,
        description="Directories whose files cameras added through the API may read (after "
        "resolving symlinks and `..`, checked on every file opened). Empty: API-added "
        "cameras must use network URLs (rtsp, rtsps, http, https). Cameras in the config "
        "file are not restricted. The file system root is refused.",
    )
    allowed_hosts: tuple[str, ...] = Field(
        ("*",), max_length=256,
        description="Hosts that cameras added through the API may connect to: IP networks "
        "(`10.20.0.0/16`, `192.0.2.7`), host names (`cam1.site`) or name patterns "
        "(`*.cams.site`); `*` is any host. Loopback and link-local addresses (this machine, "
        "cloud metadata services) are refused unless a network listed here is itself "
        "loopback or link-local (`127.0.0.1/32`). Host names must resolve when the camera "
        "is added, and every address they resolve to must be allowed. Cameras in the "
        "config file are not restricted.",
    )
    allowed_host_headers: tuple[str, ...] = Field(
        (), max_length=64,
        description="On a loopback address, requests must name this machine in their Host "
        "header (`localhost`, a loopback IP, `host`), so that a web page cannot reach the "
        "API by rebinding its own domain to 127.0.0.1; list here the other names it is "
        "reached by (a local reverse proxy's).",
    )

    @field_validator("media_roots")
    @classmethod
    def _check_roots(cls, roots: tuple[pathlib.Path, ...]) -> tuple[pathlib.Path, ...]:
        for i, root in enumerate(roots):
            check_media_root(root, f"media_roots[{i}]")
        return roots

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for i, host in enumerate(hosts):
            if not _HOST_ENTRY.match(host):
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError:
                    raise ValueError(f"allowed_hosts[{i}]: {host!r} is neither an IP network nor "
                                     "a host name pattern (`cam.site`, `*.site`, `*`)") from None
        return hosts

    @model_validator(mode="after")
    def _check_token(self) -> HttpConfig:
        if self.token is not None and self.token_env is not None:
            raise ValueError("set either token or token_env, not both")
        if self.token is not None:
            _check_token_strength(self.token.get_secret_value(), "token")
        return self

    @property
    def loopback(self) -> bool:
        """True when ``host`` is a loopback address (only this machine can connect)."""
        return is_loopback(self.host)

    def resolve_token(self) -> SecretStr | None:
        """The configured token: ``token``, or the value of the variable ``token_env``.

        Raises:
            ConfigError: ``token_env`` names a variable that is unset or empty, or whose
                value is too short.
        """
        if self.token is not None:
            return self.token
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"environment variable {self.token_env} is not set or empty; it must hold "
                "the API token", "http.token_env",
            )
        _check_token_strength(value, f"the token in ${self.token_env}", "http.token_env")
        return SecretStr(value)

    def with_resolved_token(self) -> HttpConfig:
        """A copy holding the token itself (``token_env`` read here, then cleared), for
        processes that do not share this one's environment (the Serve replica)."""
        return self.model_copy(update={"token": self.resolve_token(), "token_env": None})

    def check_exposure(self) -> None:
        """Refuses to expose the state-changing runtime API beyond this machine without a
        token (called by ``panoray run`` before anything starts).

        Raises:
            ConfigError: ``host`` is not a loopback address and no token is configured,
                or ``token_env`` cannot be read.
        """
        if self.resolve_token() is None and not self.loopback:
            raise ConfigError(
                f"the runtime API would listen on {self.host!r}, which is not a loopback "
                "address, without a token: anyone who can reach it could add and remove "
                "cameras. Set http.token_env (or http.token), or bind 127.0.0.1",
                "http.host",
            )


_HOST_ENTRY = re.compile(r"^(\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$")


def check_media_root(root: pathlib.Path, path: str) -> None:
    """Refuses (ValueError) a media root that is the file system root."""
    if root.is_absolute() and pathlib.Path(os.path.realpath(root)) == pathlib.Path(root.anchor):
        raise ValueError(f"{path}: {str(root)!r} is the file system root: cameras added "
                         "through the API could read every file the server can; name the "
                         "folder that holds the media")


def _check_token_strength(value: str, what: str, path: str = "") -> None:
    message = ""
    if len(value) < MIN_TOKEN_CHARS:
        message = (
            f"{what} is {len(value)} characters; use at least {MIN_TOKEN_CHARS} (for example "
            "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    elif not value.isprintable() or any(c.isspace() for c in value):
        message = f"{what} holds white space or control characters; use printable characters only"
    if message:
        if path:
            raise ConfigError(message, path)
        raise ValueError(message)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


class PrivacyConfig(StrictModel):
    """What may leave the pipeline."""

    blur_people: bool = Field(
        True,
        description="Blur people in every image that leaves the pipeline (stills, heatmap "
        "backgrounds). Turning it off is the operator's explicit decision.",
    )


class RayConfig(StrictModel):
    """Which Ray cluster runs the pipeline."""

    address: str | None = Field(
        None, description="Cluster address (`auto`, `ray://...`, host:port); unset: local "
        "(or $RAY_ADDRESS, as set inside a Ray job).",
    )
    namespace: str = Field("panoray", min_length=1, description="Ray namespace of the actors.")
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
        description="Longest a camera actor may take to be placed and started before the "
        "camera is reported as not started (s). Raise it on autoscaling clusters, where a "
        "node that can host the camera may take minutes to boot.",
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

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: ModelConfig) -> ModelConfig:
        from models.registry import resolve_model

        try:
            resolve_model(model.name, model.family)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return model

    def analytics_for(self, camera: CameraConfig) -> AnalyticsConfig:
        """The analytics of one camera: the site's settings with the camera's zones and lines.

        Raises:
            ValidationError: they do not fit together (a zone's timing longer than the
                window grace, a zone and a line of one id, ...).
        """
        settings = {name: getattr(self.analytics, name) for name in AnalyticsConfig.model_fields
                    if name not in ("zones", "lines")}
        return AnalyticsConfig(zones=camera.zones, lines=camera.lines, **settings)

    @property
    def output_dir(self) -> pathlib.Path | None:
        """Where the (first) Parquet sink writes, or None without one."""
        return next((s.root for s in self.sinks if s.type == "parquet"), None)

    def with_output(self, root: pathlib.Path | None = None) -> SiteConfig:
        """A copy whose Parquet sinks write under ``root`` (``panoray run --output``; one
        is added when there is none), every root made absolute: actors may run in
        another folder."""
        parquet = [s for s in self.sinks if s.type == "parquet"]
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
    resolved against the file's folder, so a config and its clips can move together.
    """
    cfg = load_config_file(path, SiteConfig)
    base = pathlib.Path(path).resolve().parent
    cameras = []
    for cam in cfg.cameras:
        url = cam.url
        if isinstance(url, str) and "://" not in url and not pathlib.Path(url).is_absolute():
            candidate = base / url
            if candidate.exists():
                cam = cam.model_copy(update={"url": str(candidate)})
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
