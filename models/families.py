"""Model families: how to feed a graph and how to turn its raw outputs into Detections.

A family is chosen by the config's ``family`` field (a registry keyed by type), or inferred
from the graph's inputs and outputs. Adapters live only here: boxes leave this module in
original-frame pixels, xyxy. Other packages add families through the ``panoray.models``
entry point group (:func:`families`): a class with the :class:`ModelFamily` interface.
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import onnxruntime as ort

from models.config import FAMILY_ENTRY_POINTS
from models.nms import nms
from models.preprocess import FrameTransform, InputSpec
from pipeline.errors import ModelError
from pipeline.types import Detections

log = logging.getLogger(__name__)

COCO_LABELS = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite "
    "baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork "
    "knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake "
    "chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
    "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear "
    "hair_drier toothbrush"
).split()


@dataclass(frozen=True)
class PostprocessParams:
    """Per-request decoding settings.

    Attributes:
        threshold: minimum score kept, 0..1.
        class_ids: class ids kept; None keeps all.
        nms_iou: IoU threshold for NMS (families without NMS in the graph).
        max_detections: most boxes kept per frame.
    """

    threshold: float
    class_ids: frozenset[int] | None
    nms_iou: float
    max_detections: int


class ModelFamily(Protocol):
    """What the detector needs to know about a family of graphs."""

    name: ClassVar[str]

    @staticmethod
    def matches(session: ort.InferenceSession) -> bool: ...

    def input_spec(self, session: ort.InferenceSession) -> InputSpec: ...

    def labels(self, session: ort.InferenceSession) -> dict[int, str]: ...

    def decode(
        self,
        outputs: list[np.ndarray],
        transforms: list[FrameTransform],
        params: list[PostprocessParams],
    ) -> list[Detections]: ...

    def output_names(self, session: ort.InferenceSession) -> list[str]: ...

    # Optional: ``preprocess(batch) -> array``, the graph's input from a (N, H, W, 3) uint8
    # RGB batch of model-sized frames; without it ``input_spec(...).to_model_input`` runs.


def _finish(
    boxes_model_px: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    tf: FrameTransform,
) -> Detections:
    return Detections(tf.to_original(boxes_model_px), scores, classes.astype(np.int16))


def _keep_mask(scores: np.ndarray, classes: np.ndarray, p: PostprocessParams) -> np.ndarray:
    keep = scores >= p.threshold
    if p.class_ids is not None:
        keep &= np.isin(classes, list(p.class_ids))
    return keep


class TfodSsd:
    """TensorFlow Object Detection API SSD export (post-processing and NMS in the graph).

    Input ``image_tensor`` uint8 (N, H, W, 3) RGB; outputs ``num_detections`` (N,),
    ``detection_boxes`` (N, K, 4) normalised ymin, xmin, ymax, xmax, ``detection_scores``
    (N, K) and ``detection_classes`` (N, K) with 1-based COCO ids (1 = person).
    """

    name: ClassVar[str] = "tfod_ssd"
    OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
    INPUT_SIDE = 300  # the SSDLite graph resizes to 300x300 internally

    @staticmethod
    def matches(session: ort.InferenceSession) -> bool:
        names = {o.name.split(":")[0] for o in session.get_outputs()}
        return set(TfodSsd.OUTPUTS) <= names

    def input_spec(self, session: ort.InferenceSession) -> InputSpec:
        return InputSpec(self.INPUT_SIDE, self.INPUT_SIDE, "plain", "NHWC", "uint8")

    def labels(self, session: ort.InferenceSession) -> dict[int, str]:
        return {i + 1: name for i, name in enumerate(COCO_LABELS)}

    def decode(
        self,
        outputs: list[np.ndarray],
        transforms: list[FrameTransform],
        params: list[PostprocessParams],
    ) -> list[Detections]:
        num, boxes, scores, classes = outputs
        results = []
        for i, (tf, p) in enumerate(zip(transforms, params)):
            n = int(num[i])
            b, s, c = boxes[i, :n], scores[i, :n], classes[i, :n].astype(np.int64)
            keep = _keep_mask(s, c, p)
            m = p.max_detections
            b, s, c = b[keep][:m], s[keep][:m], c[keep][:m]
            # normalised (ymin, xmin, ymax, xmax) -> model pixels (x1, y1, x2, y2)
            xyxy = b[:, [1, 0, 3, 2]] * self.INPUT_SIDE
            results.append(_finish(xyxy, s, c, tf))
        return results

    def output_names(self, session: ort.InferenceSession) -> list[str]:
        """Session output names in the order :meth:`decode` takes them."""
        by_base = {o.name.split(":")[0]: o.name for o in session.get_outputs()}
        return [by_base[n] for n in self.OUTPUTS]


class Yolo:
    """Ultralytics YOLOv8 / YOLO11 detection export.

    Input float32 (N, 3, H, W) RGB in 0..1 after letterbox; output (N, 4 + C, A) with
    cx, cy, w, h in input pixels and C per-class scores per anchor. Needs NMS.
    """

    name: ClassVar[str] = "yolo"

    @staticmethod
    def matches(session: ort.InferenceSession) -> bool:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or "float" not in inputs[0].type:
            return False
        return len(inputs[0].shape) == 4 and len(outputs[0].shape) == 3

    def input_spec(self, session: ort.InferenceSession) -> InputSpec:
        shape = session.get_inputs()[0].shape
        h, w = shape[2], shape[3]
        if not isinstance(h, int) or not isinstance(w, int):
            h = w = 640  # dynamic export: Ultralytics' default size
        return InputSpec(w, h, "letterbox", "NCHW", "float32")

    def labels(self, session: ort.InferenceSession) -> dict[int, str]:
        meta = session.get_modelmeta().custom_metadata_map
        if "names" in meta:
            try:
                names = ast.literal_eval(meta["names"])
                return {int(k): str(v) for k, v in dict(names).items()}
            except (ValueError, SyntaxError, TypeError):
                pass
        n_classes = session.get_outputs()[0].shape[1]
        if isinstance(n_classes, int) and n_classes - 4 != len(COCO_LABELS):
            return {i: f"class_{i}" for i in range(n_classes - 4)}
        return dict(enumerate(COCO_LABELS))

    def decode(
        self,
        outputs: list[np.ndarray],
        transforms: list[FrameTransform],
        params: list[PostprocessParams],
    ) -> list[Detections]:
        (raw,) = outputs
        results = []
        for i, (tf, p) in enumerate(zip(transforms, params)):
            pred = raw[i].T  # (A, 4 + C)
            cls_scores = pred[:, 4:]
            classes = cls_scores.argmax(axis=1)
            scores = cls_scores[np.arange(len(pred)), classes]
            keep = _keep_mask(scores, classes, p)
            pred, scores, classes = pred[keep], scores[keep], classes[keep]
            cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
            xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
            kept = nms(xyxy, scores, p.nms_iou, classes, p.max_detections)
            results.append(_finish(xyxy[kept], scores[kept], classes[kept], tf))
        return results

    def output_names(self, session: ort.InferenceSession) -> list[str]:
        """Session output names in the order :meth:`decode` takes them."""
        return [session.get_outputs()[0].name]


FAMILIES: dict[str, type] = {TfodSsd.name: TfodSsd, Yolo.name: Yolo}


def families() -> dict[str, type]:
    """The built-in families, then those installed under the ``panoray.models`` entry
    point group (a built-in name wins; one that does not load is logged and skipped).
    ``auto`` tries them in this order."""
    out = dict(FAMILIES)
    for ep in importlib.metadata.entry_points(group=FAMILY_ENTRY_POINTS):
        if ep.name in out:
            continue
        try:
            out[ep.name] = ep.load()
        except Exception as exc:  # noqa: BLE001 - another package's import error
            log.error("model family %r (%s) did not load: %s", ep.name, ep.value, exc)
    return out


def family_for(session: ort.InferenceSession, name: str, model_label: str) -> ModelFamily:
    """Returns the family named ``name``, or the one whose layout the graph matches."""
    known = families()
    if name != "auto":
        if name not in known:
            raise ModelError(f"model {model_label}: unknown family {name!r}; known: "
                             f"{sorted(known)}")
        family = known[name]()
        if not family.matches(session):
            raise ModelError(f"model {model_label} does not have the {name} input/output layout")
        return family
    for cls in known.values():
        if cls.matches(session):
            return cls()
    got = [(o.name, o.shape) for o in session.get_outputs()]
    raise ModelError(
        f"model {model_label}: cannot tell its family from outputs {got}; "
        f"set model.family to one of {sorted(known)}"
    )
