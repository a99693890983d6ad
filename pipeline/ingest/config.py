"""Camera configuration: the source, its pacing and faults, inference, stills, placement, and
the camera's zones and lines.

One camera is one :class:`CameraConfig`, grouped like the YAML a site writes: the few
settings most cameras set (``id``, ``url``, ``mode``, ``target_fps``, ``zones``,
``lines``) at the top, the rest in sub-models that keep their defaults unless a camera
needs otherwise. Every threshold is a named, bounded, documented field; times are
seconds. The URL may carry credentials: the model's repr and its validation errors never
show it unredacted.

Example:
    >>> cam = CameraConfig(id="door", url="rtsp://admin:hunter2@10.0.0.5/live",
    ...                    reconnect={"max_s": 10})
    >>> cam.mode, cam.source.transport, cam.in_flight_limit, cam.reconnect.max_s
    ('live', 'tcp', 4, 10.0)
    >>> cam.redacted_url
    'rtsp://admin:***@10.0.0.5/live'
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from models.tiling import AUTO, TilingConfig, auto_tiling
from pipeline.analytics.config import LineConfig, ZoneConfig
from pipeline.backoff import Backoff
from pipeline.config import StrictModel
from pipeline.privacy import STILL_MAX_SIDE
from pipeline.redact import redact_url
from pipeline.tracking.config import TrackerConfig

LIVE_MAX_IN_FLIGHT = 4
"""Default frames in flight per live camera: enough to hide the detector round trip."""
OFFLINE_MAX_IN_FLIGHT = 64
"""Default frames in flight per offline camera: two groups of up to 32 frames each can be
at the detector at once (see ``inference.max_groups_in_flight``), and results go on to the
tracker and aggregator in groups as large. Every Ray or Serve call costs about the same
whatever it carries, so larger groups mean fewer calls per frame: with 8 offline cameras
on 2 cores, Ray's and the stages' CPU per frame fell from 9.5-10.1 ms at 16 to 5.6 at 64
(benchmarks/CAPACITY.md). It bounds memory: 64 model-sized frames, 17 MB at 300x300."""
RESERVED_RESOURCES = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
"""Ray resources a camera may not name in ``placement.resources``."""

SourceKind = Literal["auto", "file", "rtsp", "http", "usb", "images"]
Mode = Literal["live", "offline"]


class SourceConfig(StrictModel):
    """How the camera's source is opened and read."""

    kind: SourceKind = Field("auto", description="Source kind; `auto` infers it from the URL.")
    loop: bool = Field(
        False, description="Files and image directories: start again at the end instead "
        "of ending the camera.",
    )
    fps: float | None = Field(
        None, gt=0, le=1000,
        description="Source frame rate (frames/s) when the source does not declare a usable "
        "one; image directories fall back to seqinfo.ini, then to 25.",
    )
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport. TCP survives lossy networks; UDP has less latency."
    )
    pts: Literal["auto", "stream", "wall"] = Field(
        "auto",
        description="Media time source. `stream`: the stream's timestamps (frame_index/fps "
        "when unusable); `wall`: capture time since the stream started; `auto`: stream "
        "for files and RTSP, wall for HTTP MJPEG and USB devices, and wall for any live "
        "stream whose timestamps stop advancing.",
    )
    open_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Longest FFmpeg may take to open the source (s)."
    )
    read_timeout_s: float = Field(
        10.0, gt=0, le=300,
        description="A stream that sends no frame for this long is treated as dropped and "
        "reconnected (s).",
    )
    decode_threads: int = Field(
        0, ge=0, le=64,
        description="FFmpeg decoding threads per camera; 0: as many as the CPUs the camera "
        "reserves (`placement.num_cpus`, at least 1). Cameras that share cores decode "
        "fastest with one thread each; raise it for a single stream above 1080p.",
    )
    max_frames: int | None = Field(
        None, ge=1,
        description="End the camera after this many decoded frames (tests, benchmarks, "
        "reprocessing a prefix); unset: no limit.",
    )
    max_lag_s: float = Field(
        1.0, gt=0, le=3600,
        description="Live pacing of files: when decoding falls this far behind media time, "
        "the pacer resynchronises instead of rushing to catch up (s).",
    )
    diagnose: bool = Field(
        True,
        description="When a network stream does not open, make one TCP connection to its "
        "host and port and log why (refused, unreachable, accepts connections; for RTSP, "
        "the answer to one DESCRIBE, with the URL's credentials if asked: 401 wrong or "
        "missing credentials, 404 no such path). The "
        "camera's reason (status, API) never says: it would make reads a port oracle. "
        "Cameras added through the runtime API never probe.",
    )
    only_its_address: bool = Field(
        False,
        description="HTTP streams: connect to the URL's own host only: follow no redirect "
        "and read no playlist or manifest (HLS, DASH, concat), which would make FFmpeg "
        "connect wherever they point. Set by the runtime API on the cameras it adds, whose "
        "host was checked against `http.allowed_hosts`.",
    )
    confine_to: tuple[str, ...] = Field(
        (), max_length=64,
        description="Open only files whose real path (symlinks resolved, on every file "
        "opened: a video, each image of a folder) lies under one of these folders. Set by "
        "the runtime API to `http.media_roots`; empty: no restriction.",
    )


class ReconnectConfig(StrictModel):
    """How a live source that failed is opened again (files are never reconnected)."""

    initial_s: float = Field(0.5, gt=0, le=600,
                             description="Wait before the first reconnect attempt (s).")
    max_s: float = Field(30.0, gt=0, le=3600,
                         description="Cap on the wait between reconnect attempts (s).")
    multiplier: float = Field(2.0, ge=1, le=10,
                              description="Growth of the wait per consecutive failure.")
    jitter: float = Field(
        0.2, ge=0, le=1,
        description="Largest random fraction by which a wait is shortened, so cameras do "
        "not reconnect in lockstep (0..1).",
    )
    max_attempts: int | None = Field(
        None, ge=0,
        description="Consecutive failed reconnects after which a live source is marked "
        "failed; unset retries forever.",
    )

    @model_validator(mode="after")
    def _check(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) must be at least initial_s "
                             f"({self.initial_s})")
        return self

    def backoff(self, rng: random.Random | None = None) -> Backoff:
        """A fresh :class:`~pipeline.backoff.Backoff` with these delays."""
        return Backoff(self.initial_s, self.max_s, self.multiplier, self.jitter, rng)


class MotionGateConfig(StrictModel):
    """The motion test that lets a ``skip_static`` camera skip the detector on frames where
    nothing moved (:mod:`pipeline.ingest.motion`). Each frame becomes a small blurred grey
    thumbnail, compared with the thumbnail of the last frame that went to the detector,
    after a light change over the whole view is taken off."""

    thumb_width: int = Field(
        96, ge=16, le=640,
        description="Width of the grey thumbnail the motion test runs on (pixels; the "
        "height follows the frame's aspect). Wider sees smaller movements and costs more.",
    )
    blur_sigma_px: float = Field(
        1.0, ge=0, le=10,
        description="Gaussian blur of the thumbnail (sigma, thumbnail pixels) against sensor "
        "noise and compression artefacts; 0 turns it off.",
    )
    pixel_threshold: float = Field(
        15.0, gt=0, le=255,
        description="A thumbnail pixel has changed when it differs from the reference by "
        "more than this many grey levels (0..255), after a light change over the whole "
        "view (the gain and offset that best map the reference onto it) is taken off.",
    )
    min_changed_fraction: float = Field(
        0.002, gt=0, le=1,
        description="A frame has motion when at least this fraction of its thumbnail's "
        "pixels changed (0.002 of 96x72 is 14 pixels, about a third of a distant person).",
    )
    max_static_s: float = Field(
        5.0, gt=0, le=3600,
        description="A frame goes to the detector at least this often (media seconds), "
        "motion or not, so that people standing still are re-confirmed and a missed "
        "detection is not held for long.",
    )
    settle_s: float = Field(
        0.5, ge=0, le=60,
        description="After motion, frames keep going to the detector for this long (media "
        "seconds), so that the detections then held come from a settled scene and the "
        "tracker has confirmed its new tracks.",
    )


Tiling = Annotated[
    Annotated[Literal["auto"], Tag("auto")] | Annotated[TilingConfig, Tag("grid")],
    Discriminator(lambda v: "auto" if isinstance(v, str) else "grid"),
]
"""A camera's tiling: ``auto`` (:func:`~models.tiling.auto_tiling`) or an explicit grid."""


class InferenceConfig(StrictModel):
    """How frames go to the detector and results downstream."""

    max_in_flight: int | None = Field(
        None, ge=1, le=256,
        description="Frames sent to the detector (or being forwarded) at once. More hides "
        "latency; fewer bounds memory and queueing. None: 4 in live mode, 64 in offline "
        "mode (where waiting frames travel together, see group_requests).",
    )
    group_requests: bool | None = Field(
        None,
        description="Send the frames (and tiles) waiting for the detector as one request "
        "instead of one request each: one Ray call per group, so less overhead per frame, "
        "but a frame may wait for the group before it to return. None: on in offline mode, "
        "off in live mode.",
    )
    max_groups_in_flight: int = Field(
        2, ge=1, le=64,
        description="With group_requests: groups at the detector at once. Two let one "
        "camera keep two detector replicas busy; one sends the next group only when the "
        "previous one has returned.",
    )
    pending_frames: int = Field(
        1, ge=1, le=1024,
        description="Decoded frames waiting for an in-flight slot. Live: when full the "
        "oldest is dropped (1: the newest frame wins). Offline: decoding waits.",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Longest one detector request may take (s)."
    )
    retries: int = Field(
        3, ge=0, le=100,
        description="Offline mode: attempts to resend a frame whose request failed for a "
        "reason other than the frame itself (detector restarting, timeout). Live mode "
        "never retries; the frame is counted as failed.",
    )
    forward_timeout_s: float = Field(
        30.0, gt=0, le=3600,
        description="Longest a call to the downstream actor may take before its results "
        "are counted as not forwarded (s).",
    )
    result_buffer: int = Field(
        256, ge=0, le=100_000,
        description="Recent results kept for poll_results(). Without a downstream actor "
        "this buffer is the delivery channel: offline mode waits when it is full, live mode "
        "evicts the oldest (counted). With a downstream it only keeps a recent window. "
        "0 keeps none.",
    )
    stop_timeout_s: float = Field(
        10.0, gt=0, le=600,
        description="Longest stopping the camera waits for its in-flight frames (s).",
    )
    skip_static: bool = Field(
        False,
        description="Motion-gated inference: a frame in which nothing moved since the last "
        "frame sent to the detector (see `motion`) skips the detector; it is delivered "
        "flagged static with the held detections, and tracking holds its tracks where they "
        "were while media time advances. Saves most of the detector's CPU on scenes that "
        "are empty or still for long stretches; leave it off where the view shakes, "
        "flickers or is never still.",
    )
    motion: MotionGateConfig = Field(
        default_factory=MotionGateConfig,
        description="Thresholds of the motion test used by skip_static.",
    )
    tiling: Tiling | None = Field(
        AUTO,
        description="Detect on overlapping tiles of each frame (and optionally the whole "
        "frame), sent to the detector together and merged, so that small or distant people "
        "get more of the model's input pixels; each frame then costs one model run per "
        "tile. 'auto' (or true): the frame's longer side in two halves plus the whole "
        "frame (3 runs; models.tiling.auto_tiling). 'off' (or null, false): the whole "
        "frame, one run (a third of the detector's CPU; fewer small, distant or partly "
        "hidden people found).",
    )

    @field_validator("tiling", mode="before")
    @classmethod
    def _tiling_mode(cls, value: object) -> object:
        if isinstance(value, bool):  # YAML's on/off, yes/no, true/false
            return AUTO if value else None
        if value == "off":  # as JSON writes it (and /v1/detect's ?tiling=off)
            return None
        if isinstance(value, str) and value != AUTO:
            raise ValueError(f"{value!r} is not a tiling: use {AUTO!r}, 'off' or null (the "
                             "whole frame) or a grid such as {columns: 2, rows: 1}")
        return value

    def tiling_for(self, width: int, height: int) -> TilingConfig | None:
        """The tiling of this camera's ``width`` x ``height`` frames (None: whole frame)."""
        return auto_tiling(width, height) if self.tiling == AUTO else self.tiling


class StillsConfig(StrictModel):
    """The stills a camera keeps (heatmap background, dashboard); made private before they
    leave the camera actor (:mod:`pipeline.privacy`)."""

    interval_s: float | None = Field(
        30.0, gt=0, le=86400,
        description="Every this many media seconds one frame is kept as a still; unset "
        "takes none (then no image leaves the camera actor at all).",
    )
    max_side: int = Field(STILL_MAX_SIDE, ge=32, le=4096,
                          description="Longest side of a still, in pixels.")
    blur_sigma_px: float = Field(
        3.0, ge=0, le=50,
        description="Gaussian blur (sigma, pixels of the still) over the whole still, on "
        "top of pixelating every detected person: people the detector missed in that frame "
        "show no recognisable detail either. 0 turns it off.",
    )


class HealthConfig(StrictModel):
    """How the camera measures and reports its health."""

    fps_window_s: float = Field(
        2.0, gt=0, le=600, description="Window over which the current fps is measured (s)."
    )
    metrics_interval_s: float = Field(
        1.0, gt=0, le=600,
        description="How often the camera actor exports its counters as Ray metrics (s).",
    )


class PlacementConfig(StrictModel):
    """Where the camera's actor runs on a Ray cluster."""

    num_cpus: float = Field(
        0.25, ge=0, le=64,
        description="Ray logical CPUs reserved by the camera actor; fractions let many "
        "cameras share a core.",
    )
    resources: dict[str, float] = Field(
        default_factory=dict, max_length=16,
        description="Ray custom resources the camera's actor requires, to place it on the "
        "nodes near its camera: `{site-north: 0.01}` runs it only on nodes started with "
        "`ray start --resources='{\"site-north\": 100}'`.",
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


class CameraConfig(StrictModel):
    """One camera: its source, mode, zones and lines, and how it runs."""

    # Validation errors would otherwise echo the input, URL and password included.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Camera id: 1-64 letters, digits, `_`, `.` or `-`. Used as the metric "
        "tag and actor name (the URL never is).",
    )
    url: str | int = Field(
        description="Where frames come from: a video file (mp4, avi, mkv, ...), "
        "rtsp://[user:pass@]host[:port]/path, http(s):// MJPEG, /dev/videoN or a device "
        "index, or a directory of numbered images (MOTChallenge img1/).",
    )
    mode: Mode = Field(
        "live",
        description="`live`: files are paced at their frame rate and under overload the "
        "newest frame wins (older ones are dropped and counted). `offline`: nothing is "
        "dropped; decoding waits for inference (backpressure).",
    )
    target_fps: float | None = Field(
        None, gt=0, le=1000,
        description="Keep at most this many frames per second of media time (subsampling); "
        "unset keeps every frame.",
    )
    zones: tuple[ZoneConfig, ...] = Field(
        (), max_length=256, description="Zones; `queue: true` makes a zone a queue."
    )
    lines: tuple[LineConfig, ...] = Field((), max_length=256, description="Counting lines.")
    tracker: TrackerConfig | None = Field(
        None, description="This camera's tracker settings; unset uses the site's `tracker`."
    )
    source: SourceConfig = Field(default_factory=SourceConfig,
                                 description="Opening and reading the source.")
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig,
                                       description="Reopening a live source that failed.")
    inference: InferenceConfig = Field(default_factory=InferenceConfig,
                                       description="Frames to the detector, results onward.")
    stills: StillsConfig = Field(default_factory=StillsConfig,
                                 description="Stills for heatmaps and the dashboard.")
    health: HealthConfig = Field(default_factory=HealthConfig,
                                 description="Measuring and reporting health.")
    placement: PlacementConfig = Field(default_factory=PlacementConfig,
                                       description="Where the camera's actor runs.")

    @field_validator("url", mode="before")
    @classmethod
    def _not_a_boolean(cls, url: object) -> object:
        if isinstance(url, bool):
            raise ValueError(f"url is the boolean {url} (YAML reads yes/no/on/off/true/false "
                             "as booleans); quote it, or give a path, URL or device index")
        return url

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if isinstance(self.url, str) and not self.url.strip():
            raise ValueError(f"camera {self.id}: url is empty")
        if isinstance(self.url, int) and self.url < 0:
            raise ValueError(f"camera {self.id}: a device index must be >= 0, got {self.url}")
        if isinstance(self.url, str) and "://" in self.url and not self.url.lower().startswith(
                "file://"):
            try:  # .port raises on a port out of range or not a number
                parts = urlsplit(self.url)  # (no authority at all: diagnosed as it opens)
                usable = parts.port != 0 and (parts.hostname or not parts.netloc)
            except ValueError:
                usable = False
            if not usable:
                raise ValueError(f"camera {self.id}: url {self.redacted_url!r} needs a host "
                                 "and, if it names a port, a number from 1 to 65535")
        return self

    @property
    def in_flight_limit(self) -> int:
        """``inference.max_in_flight``, or its default for the mode."""
        if self.inference.max_in_flight is not None:
            return self.inference.max_in_flight
        return OFFLINE_MAX_IN_FLIGHT if self.mode == "offline" else LIVE_MAX_IN_FLIGHT

    @property
    def redacted_url(self) -> str:
        """The URL with its password and secret query values masked."""
        return redact_url(self.url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url if name == "url" else value)

    def public_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data with the URL redacted (for APIs and logs)."""
        return {**self.model_dump(mode="json"), "url": self.redacted_url}
