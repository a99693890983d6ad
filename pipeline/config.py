"""Configuration schema: every threshold is a named, bounded, documented field.

Models forbid unknown keys so that a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Provider = Literal["auto", "tensorrt", "cuda", "cpu"]


class ModelConfig(StrictModel):
    """Which detector runs and how its raw output becomes Detections."""

    name: str = Field(
        "ssdlite-mobilenetv2-person",
        description="Bundled model name (see `panoray models`) or a path to an .onnx file.",
    )
    family: Literal["auto", "tfod_ssd", "yolo"] = Field(
        "auto", description="Output layout of the model; `auto` infers it from the graph."
    )
    threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum detection score kept (0..1)."
    )
    classes: tuple[str, ...] = Field(
        ("person",), description="Class labels kept; empty keeps every class the model has."
    )
    nms_iou: float = Field(
        0.45, gt=0.0, le=1.0,
        description="IoU above which a lower-scoring box of the same class is suppressed "
        "(for families whose graph has no NMS).",
    )
    max_detections: int = Field(
        300, ge=1, le=10000, description="Most detections kept per frame, by score."
    )
    provider: Provider = Field(
        "auto",
        description="ONNX Runtime execution provider: `auto` prefers TensorRT, then CUDA, "
        "then CPU; naming one makes its absence an error.",
    )
    intra_op_threads: int = Field(
        0, ge=0, le=256, description="ONNX Runtime intra-op threads; 0 lets it choose."
    )
    allow_spinning: bool = Field(
        False,
        description="Let ONNX Runtime's idle threads spin instead of sleeping: a little "
        "lower latency when the detector has the CPUs to itself, wasted cores when it shares "
        "them with decoders and Ray.",
    )
    warmup_runs: int = Field(
        2, ge=0, le=100, description="Inference runs on a blank frame when a session starts."
    )


class ServingConfig(StrictModel):
    """How the detector deployment is run on Ray Serve."""

    replicas: int = Field(1, ge=1, le=1024, description="Fixed replica count (no autoscaling).")
    autoscaling: bool = Field(
        False, description="Scale replicas between min_replicas and max_replicas by load."
    )
    min_replicas: int = Field(1, ge=0, le=1024, description="Autoscaling lower bound.")
    max_replicas: int = Field(4, ge=1, le=1024, description="Autoscaling upper bound.")
    target_ongoing_requests: float = Field(
        16.0, gt=0, description="Autoscaling target of queued plus running requests per replica."
    )
    max_batch_size: int = Field(
        8, ge=1, le=1024, description="Most frames the detector runs in one batch."
    )
    batch_wait_timeout_s: float = Field(
        0.01, ge=0.0, le=10.0,
        description="Longest a partial batch waits for more frames before it runs (seconds).",
    )
    max_ongoing_requests: int = Field(
        64, ge=1, le=100000,
        description="Requests a replica accepts at once; must be at least max_batch_size "
        "or batches can never fill.",
    )
    num_cpus: float = Field(0.5, ge=0.0, description="CPUs reserved per replica (Ray logical).")
    num_gpus: float | None = Field(
        None, ge=0.0,
        description="GPUs per replica; fractions share one GPU between replicas. Unset: "
        "0.5 when the cluster has GPUs, else 0.",
    )

    @model_validator(mode="after")
    def _check(self) -> ServingConfig:
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be at least "
                f"max_batch_size ({self.max_batch_size}), or batches can never fill"
            )
        if self.autoscaling and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self


class HttpConfig(StrictModel):
    """The HTTP endpoint."""

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
