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
    sinks: {output_dir: ./panoray-output}

Load it with :func:`load_site_config`; errors name the key path and line.
"""

from __future__ import annotations

import pathlib
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.analytics.config import AnalyticsConfig, LineConfig, ZoneConfig
from pipeline.config import HttpConfig, ModelConfig, ServingConfig, StrictModel
from pipeline.config_loader import load_config_file
from pipeline.errors import ModelError
from pipeline.ingest.config import CameraConfig
from pipeline.tracking.config import GapFillConfig, TrackerConfig

RESERVED_RESOURCES = frozenset({"CPU", "GPU", "memory", "object_store_memory"})


class SiteCamera(CameraConfig):
    """A camera of the site: its source (see CameraConfig) plus its zones and lines."""

    zones: tuple[ZoneConfig, ...] = Field(
        (), max_length=256, description="Zones; `queue: true` makes a zone a queue."
    )
    lines: tuple[LineConfig, ...] = Field((), max_length=256, description="Counting lines.")
    tracker: TrackerConfig | None = Field(
        None, description="Per-camera tracker settings; unset uses the top-level `tracker`."
    )
    resources: dict[str, float] = Field(
        default_factory=dict, max_length=16,
        description="Ray custom resources the camera's actor requires, to place it on the "
        "nodes near its camera: `{site-north: 0.01}` runs it only on nodes started with "
        "`ray start --resources='{\"site-north\": 100}'`. CPUs are set with `num_cpus`.",
    )

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if name in RESERVED_RESOURCES:
                raise ValueError(
                    f"resource {name!r} is managed by Ray; set num_cpus instead of CPU, and "
                    "use custom resource names for placement"
                )
            if not name or not 0 < amount <= 1e6:
                raise ValueError(f"resource {name!r}: amount must be in (0, 1e6], got {amount}")
        return value


class AnalyticsSettings(StrictModel):
    """Analytics settings shared by every camera (zones and lines are per camera)."""

    window_s: float = Field(60.0, gt=0.0, le=86400.0,
                            description="Length of the tumbling metric windows (media s).")
    window_grace_s: float = Field(
        10.0, ge=0.0, le=3600.0,
        description="A window closes once media time passes its end by this much.",
    )
    min_distinct_tracks: int = Field(
        5, ge=1, le=1000,
        description="k: aggregates covering 1..k-1 distinct tracks are suppressed; 1 is off.",
    )
    track_idle_timeout_s: float = Field(
        30.0, gt=0.0, le=86400.0,
        description="Per-track analytics state is dropped after this long unseen (media s).",
    )
    heatmap_columns: int = Field(64, ge=1, le=1024, description="Heatmap grid columns.")

    def for_camera(self, camera: SiteCamera) -> AnalyticsConfig:
        """The AnalyticsConfig of one camera (raises ValueError on an inconsistency)."""
        return AnalyticsConfig(
            zones=camera.zones, lines=camera.lines, window_s=self.window_s,
            window_grace_s=self.window_grace_s, min_distinct_tracks=self.min_distinct_tracks,
            track_idle_timeout_s=self.track_idle_timeout_s,
            heatmap={"columns": self.heatmap_columns},
        )


class SinkSettings(StrictModel):
    """Where results go."""

    output_dir: pathlib.Path = Field(
        pathlib.Path("panoray-output"),
        description="Directory for Parquet tables (events/, metrics/) and heatmaps/.",
    )
    events_retention_days: float | None = Field(
        30.0, gt=0, description="Raw events older than this are deleted; unset keeps them."
    )
    aggregates_retention_days: float | None = Field(
        None, gt=0, description="Metrics and heatmaps older than this are deleted."
    )
    max_buffer_rows: int = Field(
        50_000, ge=1, le=10_000_000,
        description="Rows buffered per table before a write without waiting for a window.",
    )


class PrivacySettings(StrictModel):
    """What may leave the pipeline."""

    blur_people: bool = Field(
        True,
        description="Blur people in every image that leaves the pipeline (stills, heatmap "
        "backgrounds). Turning it off is the operator's explicit decision.",
    )


class RaySettings(StrictModel):
    """Which Ray cluster runs the pipeline."""

    address: str | None = Field(
        None, description="Cluster address (`auto`, `ray://...`, host:port); unset: local "
        "(or $RAY_ADDRESS, as set inside a Ray job).",
    )
    namespace: str = Field("panoray", min_length=1, description="Ray namespace of the actors.")
    tracker_actors: int = Field(
        1, ge=1, le=1024, description="Tracker actors; cameras are spread over them."
    )
    aggregator_actors: int = Field(
        1, ge=1, le=1024, description="Aggregator actors; cameras are sharded over them."
    )
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


class RunSettings(StrictModel):
    """How long a run lasts and how it reports."""

    duration_s: float | None = Field(
        None, gt=0, description="Stop after this many wall seconds; unset: until the sources "
        "end (offline) or until stopped (live).",
    )
    status_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the live status table refreshes (s)."
    )


class SiteConfig(StrictModel):
    """A whole deployment."""

    # Validation errors would otherwise echo the input: camera passwords, the API token.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    cameras: tuple[SiteCamera, ...] = Field(description="The cameras (at least one).")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The detector.")
    serving: ServingConfig = Field(default_factory=ServingConfig,
                                   description="Detector replicas and batching.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig,
                                   description="Default tracker settings.")
    smoothing: GapFillConfig | None = Field(
        default_factory=GapFillConfig,
        description="Offline runs only: join broken tracks and interpolate short gaps "
        "before analytics (frames are held for `lookahead_s`). Unset turns it off.",
    )
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings,
                                         description="Windows, suppression, heatmaps.")
    sinks: SinkSettings = Field(default_factory=SinkSettings, description="Outputs.")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings,
                                     description="Blurring.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP API.")
    ray: RaySettings = Field(default_factory=RaySettings, description="Ray cluster.")
    run: RunSettings = Field(default_factory=RunSettings, description="Run length.")

    @model_validator(mode="after")
    def _check(self) -> SiteConfig:
        if not self.cameras:
            raise ValueError("cameras: at least one camera is needed")
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used by more than one camera")
            seen.add(cam.id)
        for i, cam in enumerate(self.cameras):
            try:
                self.analytics.for_camera(cam)  # cross-field checks name the zone
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"cameras[{i}] ({cam.id}): {msg}") from None
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

    def analytics_for(self, camera_id: str) -> AnalyticsConfig:
        """The analytics config of camera ``camera_id``."""
        return self.analytics.for_camera(self.camera(camera_id))

    def tracker_for(self, camera_id: str) -> TrackerConfig:
        """The tracker config of camera ``camera_id`` (its own, or the default)."""
        return self.camera(camera_id).tracker or self.tracker

    def camera(self, camera_id: str) -> SiteCamera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready config with camera URLs redacted."""
        data = self.model_dump(mode="json")
        data["cameras"] = [c.public_dict() | {"zones": data["cameras"][i]["zones"],
                                              "lines": data["cameras"][i]["lines"]}
                           for i, c in enumerate(self.cameras)]
        return data


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
    http = cfg.http.model_copy(update={"media_roots": roots})
    return cfg.model_copy(update={"cameras": tuple(cameras), "http": http})


DEMO_CONFIG = pathlib.Path(__file__).parent / "demo" / "demo.yaml"
"""The embedded demo: a real campus clip as three live cameras with zones and lines."""
