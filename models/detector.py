"""The inference core: one ONNX Runtime session plus its family's decoding. No Ray.

Example:
    >>> bgr_frame = np.zeros((480, 640, 3), np.uint8)          # an empty scene
    >>> det = OnnxDetector(ModelConfig())                       # the bundled person model
    >>> small, _ = prepare_frame(bgr_frame, det.input_spec)      # done by the camera actor
    >>> [d] = det.detect([small], [(bgr_frame.shape[1], bgr_frame.shape[0])])
    >>> d.boxes.shape  # (n, 4) float32 xyxy in bgr_frame's pixels
    (0, 4)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from models.config import ModelConfig
from models.families import PostprocessParams, family_for
from models.preprocess import FrameTransform, InputSpec, prepare_frame
from models.registry import resolve_model
from models.session import create_session
from pipeline.errors import InputError
from pipeline.types import Detections

log = logging.getLogger(__name__)

MAX_NAMED_CLASSES = 20
"""Most class labels an error message names (a model may have hundreds)."""


def _named(labels: Sequence[str], lead: str) -> str:
    """``lead ['a', 'b']``, or with more than :data:`MAX_NAMED_CLASSES` labels
    ``lead 80 classes: [the first ones] and 60 more``."""
    if len(labels) <= MAX_NAMED_CLASSES:
        return f"{lead} {list(labels)}"
    return (f"{lead} {len(labels)} classes: {list(labels[:MAX_NAMED_CLASSES])} and "
            f"{len(labels) - MAX_NAMED_CLASSES} more")


class OnnxDetector:
    """Runs a detection model on batches of model-sized frames.

    Args:
        config: which model, provider and decoding settings.
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.source = resolve_model(config.name, config.family)
        self.session, self.provider = create_session(
            self.source.path, config.provider, config.intra_op_threads, config.allow_spinning
        )
        self.family = family_for(self.session, self.source.family, self.source.name)
        self.input_spec: InputSpec = self.family.input_spec(self.session)
        self.labels: dict[int, str] = self.family.labels(self.session)
        self._input_name = self.session.get_inputs()[0].name
        self._output_names = self.family.output_names(self.session)
        self.default_params = self.params()
        for _ in range(config.warmup_runs):
            blank = np.zeros((self.input_spec.height, self.input_spec.width, 3), np.uint8)
            self.detect([blank], [(self.input_spec.width, self.input_spec.height)])
        log.info(
            "model %s (%s) ready on %s, input %dx%d %s",
            self.source.name, self.family.name, self.provider,
            self.input_spec.width, self.input_spec.height, self.input_spec.resize,
        )

    def params(
        self, threshold: float | None = None, classes: Sequence[str] | None = None
    ) -> PostprocessParams:
        """Decoding settings: the config's, with optional per-request overrides.

        ``classes`` narrows the config's classes (``model.classes``, what :meth:`info`
        reports); it may name any of the model's classes only when those are empty.

        Raises:
            InputError: threshold outside 0..1, or a class the model does not have (in
                the config), or that this detector does not detect (in ``classes``).
        """
        if threshold is None:
            threshold = self.config.threshold
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be within 0..1, got {threshold}", "threshold")
        names = self.config.classes if classes is None else tuple(classes)
        class_ids = None
        if names:
            by_name = {v: k for k, v in self.labels.items()}
            known = sorted(by_name) if classes is None else self.detected_classes()
            unknown = [n for n in names if n not in by_name or n not in known]
            if unknown:
                raise InputError(
                    f"unknown classes {unknown} for model {self.source.name}; "
                    f"{_named(known, 'it has' if classes is None else 'it detects')}",
                    "classes",
                )
            class_ids = frozenset(by_name[n] for n in names)
        return PostprocessParams(
            threshold, class_ids, self.config.nms_iou, self.config.max_detections
        )

    def detected_classes(self) -> list[str]:
        """The labels this detector reports: the config's classes (what :meth:`info`
        lists), or every class of the model, sorted, when those are empty."""
        return list(self.config.classes) or sorted(self.labels.values())

    def check_frame(self, frame: Any) -> None:
        """Raises InputError unless ``frame`` is a (height, width, 3) uint8 model-sized frame."""
        spec = self.input_spec
        expected = (spec.height, spec.width, 3)
        if not isinstance(frame, np.ndarray):
            raise InputError(f"frame must be a numpy array, got {type(frame).__name__}", "frame")
        if frame.dtype != np.uint8 or frame.shape != expected:
            raise InputError(
                f"frame must be uint8 with shape {expected} (the model's input), got "
                f"{frame.dtype} {frame.shape}; resize with models.preprocess.prepare_frame",
                "frame.shape",
            )

    def detect(
        self,
        frames: Sequence[npt.NDArray[np.uint8]],
        sizes: Sequence[tuple[int, int]],
        params: Sequence[PostprocessParams] | None = None,
    ) -> list[Detections]:
        """Detects objects in a batch of model-sized frames.

        Args:
            frames: each (input_spec.height, input_spec.width, 3) uint8 RGB.
            sizes: each frame's original (width, height) in pixels, to map boxes back.
            params: per-frame decoding settings; the config's when omitted.

        Returns:
            One Detections per frame, boxes in original-frame pixels.
        """
        if not frames:
            return []
        for frame in frames:
            self.check_frame(frame)
        transforms = [FrameTransform.for_frame(self.input_spec, w, h) for w, h in sizes]
        preprocess = getattr(self.family, "preprocess", self.input_spec.to_model_input)
        batch = preprocess(np.stack(frames))
        outputs = self.session.run(self._output_names, {self._input_name: batch})
        if params is None:
            params = [self.default_params] * len(frames)
        return self.family.decode(outputs, transforms, list(params))

    def detect_image(
        self,
        image: npt.NDArray[np.uint8],
        color: str = "BGR",
        params: PostprocessParams | None = None,
    ) -> Detections:
        """Preprocesses and detects one full-resolution (H, W, 3) uint8 image."""
        small, tf = prepare_frame(image, self.input_spec, color)  # type: ignore[arg-type]
        return self.detect(
            [small], [(tf.width, tf.height)], None if params is None else [params]
        )[0]

    def info(self) -> dict[str, Any]:
        """What runs: model name, family, provider and input spec (JSON-ready)."""
        spec = self.input_spec
        return {
            "model": self.source.name,
            "family": self.family.name,
            "provider": self.provider,
            "input": {"width": spec.width, "height": spec.height, "resize": spec.resize,
                      "layout": spec.layout, "dtype": spec.dtype},
            "classes": list(self.config.classes),
            "threshold": self.config.threshold,
        }
