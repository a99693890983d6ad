"""Camera configuration: where frames come from, how they are paced, how faults are handled.

Every threshold is a named, bounded, documented field. Times are seconds. The URL may carry
credentials: the model's repr and its validation errors never show it unredacted.

Example:
    >>> cam = CameraConfig(id="door", url="rtsp://admin:hunter2@10.0.0.5/live")
    >>> cam.mode, cam.transport, cam.in_flight_limit
    ('live', 'tcp', 4)
    >>> cam.redacted_url
    'rtsp://admin:***@10.0.0.5/live'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from models.tiling import TilingConfig
from pipeline.config import StrictModel
from pipeline.redact import redact_url

LIVE_MAX_IN_FLIGHT = 4
"""Default frames in flight per live camera: enough to hide the detector round trip."""
OFFLINE_MAX_IN_FLIGHT = 16
"""Default frames in flight per offline camera: two groups of a full model batch each can be
at the detector at once (see ``max_groups_in_flight``). Measured on 2 cores, 2 replicas: one
offline camera 42 frames/s with 8 in flight and one group, 67 with 16 and two groups; four
cameras 54 -> 69; eight 57 -> 61 (benchmarks/CAPACITY.md)."""

SourceKind = Literal["auto", "file", "rtsp", "http", "usb", "images"]
Mode = Literal["live", "offline"]


class CameraConfig(StrictModel):
    """One camera: its source, pacing mode, fault handling and resource settings."""

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
    kind: SourceKind = Field(
        "auto", description="Source kind; `auto` infers it from the URL."
    )
    mode: Mode = Field(
        "live",
        description="`live`: files are paced at their frame rate and under overload the "
        "newest frame wins (older ones are dropped and counted). `offline`: nothing is "
        "dropped; decoding waits for inference (backpressure).",
    )
    loop: bool = Field(
        False, description="Files and image directories: start again at the end instead "
        "of ending the camera."
    )
    fps: float | None = Field(
        None, gt=0, le=1000,
        description="Source frame rate (frames/s) when the source does not declare a usable "
        "one; image directories fall back to seqinfo.ini, then to 25.",
    )
    target_fps: float | None = Field(
        None, gt=0, le=1000,
        description="Keep at most this many frames per second of media time (subsampling); "
        "unset keeps every frame.",
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
    backoff_initial_s: float = Field(
        0.5, gt=0, le=600, description="Wait before the first reconnect attempt (s)."
    )
    backoff_max_s: float = Field(
        30.0, gt=0, le=3600, description="Cap on the wait between reconnect attempts (s)."
    )
    backoff_multiplier: float = Field(
        2.0, ge=1, le=10, description="Growth of the wait per consecutive failure."
    )
    backoff_jitter: float = Field(
        0.2, ge=0, le=1,
        description="Largest random fraction by which a wait is shortened, so cameras do "
        "not reconnect in lockstep (0..1).",
    )
    max_reconnects: int | None = Field(
        None, ge=0,
        description="Consecutive failed reconnects after which a live source is marked "
        "failed; unset retries forever. Files are never reconnected.",
    )
    max_in_flight: int | None = Field(
        None, ge=1, le=256,
        description="Frames sent to the detector (or being forwarded) at once. More hides "
        "latency; fewer bounds memory and queueing. None: 4 in live mode, 16 in offline "
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
    result_buffer: int = Field(
        256, ge=0, le=100_000,
        description="Recent results kept for poll_results(). Without a downstream actor "
        "this buffer is the delivery channel: offline mode waits when it is full, live mode "
        "evicts the oldest (counted). With a downstream it only keeps a recent window. "
        "0 keeps none.",
    )
    max_lag_s: float = Field(
        1.0, gt=0, le=3600,
        description="Live pacing of files: when decoding falls this far behind media time, "
        "the pacer resynchronises instead of rushing to catch up (s).",
    )
    infer_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Longest one detector request may take (s)."
    )
    infer_retries: int = Field(
        3, ge=0, le=100,
        description="Offline mode: attempts to resend a frame whose request failed for a "
        "reason other than the frame itself (detector restarting, timeout). Live mode "
        "never retries; the frame is counted as failed.",
    )
    forward_timeout_s: float = Field(
        30.0, gt=0, le=3600,
        description="Longest a call to the downstream actor may take before the result is "
        "counted as not forwarded (s).",
    )
    decode_threads: int = Field(
        0, ge=0, le=64,
        description="FFmpeg decoding threads per camera; 0 lets OpenCV choose.",
    )
    max_frames: int | None = Field(
        None, ge=1,
        description="End the camera after this many decoded frames (tests, benchmarks, "
        "reprocessing a prefix); unset: no limit.",
    )
    fps_window_s: float = Field(
        2.0, gt=0, le=600, description="Window over which the current fps is measured (s)."
    )
    stop_timeout_s: float = Field(
        10.0, gt=0, le=600,
        description="Longest stop() waits for in-flight frames to finish (s).",
    )
    metrics_interval_s: float = Field(
        1.0, gt=0, le=600,
        description="How often the camera actor exports its counters as Ray metrics (s).",
    )
    still_interval_s: float | None = Field(
        30.0, gt=0, le=86400,
        description="Every this many media seconds one frame is kept as a still (heatmap "
        "background, dashboard), downscaled and with people blurred before it leaves the "
        "camera actor; unset takes none.",
    )
    still_max_side: int = Field(
        640, ge=32, le=4096, description="Longest side of a still, in pixels."
    )
    still_blur_sigma_px: float = Field(
        3.0, ge=0, le=50,
        description="Gaussian blur (sigma, pixels of the downscaled still) over the whole "
        "still, on top of pixelating every detected person: people the detector missed "
        "in that frame still show no recognisable detail. 0 turns it off.",
    )
    blur_stills: bool = Field(
        True,
        description="Blur the people in stills. Only the operator's explicit `privacy."
        "blur_people: false` turns this off.",
    )
    tiling: TilingConfig | None = Field(
        None,
        description="Detect on overlapping tiles of each frame (and optionally the whole "
        "frame), sent to the detector together and merged, so that small or distant people "
        "get more of the model's input pixels; each frame then costs one model run per "
        "tile. Unset: the whole frame, one run. See docs/accuracy.md for measured recall "
        "and cost.",
    )
    num_cpus: float = Field(
        0.25, ge=0, le=64,
        description="Ray logical CPUs reserved by the camera actor; fractions let many "
        "cameras share a core.",
    )

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"camera {self.id}: backoff_max_s ({self.backoff_max_s}) must be at least "
                f"backoff_initial_s ({self.backoff_initial_s})"
            )
        if isinstance(self.url, str) and not self.url.strip():
            raise ValueError(f"camera {self.id}: url is empty")
        if isinstance(self.url, int) and self.url < 0:
            raise ValueError(f"camera {self.id}: a device index must be >= 0, got {self.url}")
        return self

    @property
    def in_flight_limit(self) -> int:
        """``max_in_flight``, or its default for the mode."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return OFFLINE_MAX_IN_FLIGHT if self.mode == "offline" else LIVE_MAX_IN_FLIGHT

    @property
    def redacted_url(self) -> str:
        """The URL with its password and secret query values masked."""
        return redact_url(self.url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url if name == "url" else value)

    def public_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict with the URL redacted (for APIs and logs)."""
        return {**self.model_dump(), "url": self.redacted_url}
