"""Configuration of the detector: which model runs, and how Ray Serve runs it."""

from __future__ import annotations

from typing import Annotated, Literal

import importlib.metadata

from pydantic import Field, field_validator, model_validator

from pipeline.config import StrictModel

Provider = Literal["auto", "tensorrt", "cuda", "cpu"]
BUILTIN_FAMILIES = ("tfod_ssd", "yolo")
"""The model families panoray ships (:mod:`models.families`)."""
FAMILY_ENTRY_POINTS = "panoray.models"
"""Entry point group of model families from other packages (a class with the
:class:`~models.families.ModelFamily` interface; README, "Extending panoray")."""


def family_names() -> tuple[str, ...]:
    """Every family a config may name: the built-ins, then the installed entry points."""
    installed = sorted(ep.name for ep in importlib.metadata.entry_points(
        group=FAMILY_ENTRY_POINTS) if ep.name not in BUILTIN_FAMILIES)
    return (*BUILTIN_FAMILIES, *installed)


class ModelConfig(StrictModel):
    """Which detector runs and how its raw output becomes Detections."""

    name: str = Field(
        "ssdlite-mobilenetv2-person",
        description="Bundled model name (see `panoray models`) or a path to an .onnx file.",
    )
    family: str = Field(
        "auto", description="Output layout of the model: `tfod_ssd`, `yolo`, a family "
        "installed under the `panoray.models` entry point group, or `auto` to infer it "
        "from the graph."
    )
    threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum detection score kept (0..1)."
    )

    @field_validator("family")
    @classmethod
    def _known_family(cls, family: str) -> str:
        if family != "auto" and family not in family_names():
            raise ValueError(f"unknown model family {family!r}; known: "
                             f"{', '.join(family_names())} (or auto)")
        return family
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
        0, ge=0, le=256,
        description="ONNX Runtime intra-op threads. 0: one per core when a single replica "
        "runs on CPU, and 1 when several CPU replicas share the cores (single-threaded "
        "sessions, one per core, get more work out of each core than one session spread "
        "over all of them).",
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


AUTO_BATCH_CPU = 2
"""Frames per model run of ``max_batch_size: auto`` on CPU: a single-threaded replica runs
small batches cheaper per frame than large ones, since they stay in the core's cache
(measured in benchmarks/CAPACITY.md, "Smaller batches on CPU")."""
AUTO_BATCH_GPU = 8
"""Frames per model run of ``max_batch_size: auto`` on a GPU, where a batch of 8 costs
little more than one frame."""


class ServingConfig(StrictModel):
    """How the detector deployment is run on Ray Serve."""

    replicas: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        "auto",
        description="Fixed replica count (no autoscaling). `auto`: 1 when the cluster has "
        "GPUs or num_gpus asks for them; otherwise one replica per CPU core of the node that "
        "starts serving, at most auto_max_replicas, each running ONNX Runtime on one thread "
        "(see intra_op_threads).",
    )
    auto_max_replicas: int = Field(
        8, ge=1, le=1024, description="Most replicas `replicas: auto` starts on a CPU node."
    )
    autoscaling: bool = Field(
        False, description="Scale replicas between min_replicas and max_replicas by load."
    )
    direct_calls: bool = Field(
        True,
        description="Camera actors send their frames straight to the replicas' actors "
        "(actors/replicas.py) instead of through Serve's router; HTTP clients always go "
        "through Serve. Off with autoscaling, whose scaling reads the load at the handles.",
    )
    min_replicas: int = Field(1, ge=0, le=1024, description="Autoscaling lower bound.")
    max_replicas: int = Field(4, ge=1, le=1024, description="Autoscaling upper bound.")
    target_ongoing_requests: float = Field(
        16.0, gt=0, description="Autoscaling target of queued plus running requests per replica."
    )
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        "auto",
        description="Most frames the detector runs in one batch. `auto`: "
        f"{AUTO_BATCH_CPU} when ONNX Runtime runs on the CPU (one thread per replica runs "
        "small batches cheaper per frame: they stay in the core's cache), "
        f"{AUTO_BATCH_GPU} on a GPU.",
    )
    batch_wait_timeout_s: float = Field(
        0.0, ge=0.0, le=10.0,
        description="Longest a frame that reaches an idle detector waits for company before "
        "its batch runs (seconds). Frames that arrive while a batch runs always form the next "
        "batch together (models/batcher.py), so under load batches fill without waiting; a "
        "wait only adds latency at low load. Worth a few ms on a GPU, where a batch of 8 "
        "costs little more than one frame.",
    )
    max_ongoing_requests: int = Field(
        64, ge=1, le=100000,
        description="Requests a replica accepts at once; must be at least max_batch_size "
        "or batches can never fill.",
    )
    num_cpus: float = Field(
        0.5, ge=0.0,
        description="CPUs reserved per replica (Ray logical); with `replicas: auto`, what "
        "all replicas reserve together, so that a node's logical CPUs stay free for cameras.",
    )
    stats_interval_s: float = Field(
        1.0, gt=0.0, le=60.0,
        description="How often each detector replica posts its counters for "
        "`/v1/detector/stats`, which sums them over replicas (seconds): the other replicas' "
        "share of the totals is at most this old.",
    )
    stats_forget_after_s: float = Field(
        30.0, gt=0.0, le=3600.0,
        description="A replica not heard from for this long (it stopped) drops out of the "
        "detector stats totals (seconds); must exceed stats_interval_s.",
    )
    num_gpus: float | None = Field(
        None, ge=0.0,
        description="GPUs per replica; fractions share one GPU between replicas. Unset: "
        "0.5 when the cluster has GPUs, else 0.",
    )

    @model_validator(mode="after")
    def _check(self) -> ServingConfig:
        if self.max_ongoing_requests < self.batch_size(on_gpu=True):
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be at least "
                f"max_batch_size ({self.max_batch_size}"
                f"{f': {AUTO_BATCH_GPU} on a GPU' if self.max_batch_size == 'auto' else ''}), "
                "or batches can never fill"
            )
        if self.stats_forget_after_s <= self.stats_interval_s:
            raise ValueError(
                f"stats_forget_after_s ({self.stats_forget_after_s}) must exceed "
                f"stats_interval_s ({self.stats_interval_s}), or live replicas drop out"
            )
        if self.autoscaling and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self

    def batch_size(self, on_gpu: bool) -> int:
        """``max_batch_size`` with ``auto`` resolved for the device the model runs on."""
        if self.max_batch_size != "auto":
            return self.max_batch_size
        return AUTO_BATCH_GPU if on_gpu else AUTO_BATCH_CPU
