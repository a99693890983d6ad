"""Model families, decoded through real ONNX Runtime sessions on graphs built here."""

import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.config import ModelConfig
from models.detector import OnnxDetector
from pipeline.errors import InputError, ModelError

SIDE = 64
# Raw YOLO output for one image: (4 + C, A) with C = 2 classes and A = 4 anchors,
# boxes as cx, cy, w, h in model pixels.
ANCHORS = np.array(
    [
        # cx, cy,  w,  h, person, bag
        [32, 32, 20, 20, 0.9, 0.0],  # kept
        [33, 32, 20, 20, 0.8, 0.0],  # same person, suppressed by NMS
        [33, 32, 20, 20, 0.0, 0.7],  # a bag at the same place: other class, not suppressed
        [10, 20, 4, 4, 0.2, 0.0],  # below the threshold
    ],
    np.float32,
).T[None]


def build_yolo_graph(path: pathlib.Path, raw: np.ndarray, names: str | None) -> pathlib.Path:
    """Writes an ONNX graph whose output is ``raw`` tiled over the input's batch size."""
    c4, a = raw.shape[1:]
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["n"]),
        helper.make_node("Concat", ["n", "one", "one"], ["reps"], axis=0),
        helper.make_node("Tile", ["raw", "reps"], ["output0"]),
    ]
    inits = [
        helper.make_tensor("raw", TensorProto.FLOAT, raw.shape, raw.flatten().tolist()),
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
    ]
    graph = helper.make_graph(
        nodes, "yolo_stub",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", c4, a])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def yolo_path(tmp_path):
    return build_yolo_graph(tmp_path / "yolo.onnx", ANCHORS, "{0: 'person', 1: 'bag'}")


def _run(path, frame_w=128, frame_h=64, **cfg):
    det = OnnxDetector(ModelConfig(name=str(path), warmup_runs=1, **cfg))
    small = np.zeros((SIDE, SIDE, 3), np.uint8)
    return det, det.detect([small, small], [(frame_w, frame_h), (frame_w, frame_h)])


def test_yolo_decodes_nms_and_maps_letterbox_back(yolo_path):
    det, (a, b) = _run(yolo_path)
    assert det.family.name == "yolo"
    assert det.input_spec.resize == "letterbox" and det.input_spec.layout == "NCHW"
    assert det.labels == {0: "person", 1: "bag"}
    # 128x64 into 64x64: scale 0.5, 16 px of padding on top; model box [22, 22, 42, 42]
    np.testing.assert_allclose(a.boxes, [[44, 12, 84, 52]], atol=1e-4)
    assert a.scores.tolist() == pytest.approx([0.9]) and a.class_ids.tolist() == [0]
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_yolo_class_aware_nms_keeps_other_classes(yolo_path):
    _, (a, _) = _run(yolo_path, classes=())
    assert sorted(a.class_ids.tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("cfg", "expected_scores"),
    [
        ({"threshold": 0.1}, [0.9, 0.2]),
        ({"threshold": 0.95}, []),
        ({"threshold": 0.1, "max_detections": 1}, [0.9]),
        ({"nms_iou": 0.99}, [0.9, 0.8]),
    ],
)
def test_yolo_named_settings_apply(yolo_path, cfg, expected_scores):
    _, (a, _) = _run(yolo_path, **cfg)
    assert a.scores.tolist() == pytest.approx(expected_scores)


def test_yolo_without_names_metadata_gets_generic_labels(tmp_path):
    path = build_yolo_graph(tmp_path / "y.onnx", ANCHORS, None)
    det = OnnxDetector(ModelConfig(name=str(path), classes=("class_0",), warmup_runs=0))
    assert det.labels == {0: "class_0", 1: "class_1"}


@pytest.mark.parametrize(
    ("cfg", "error", "message"),
    [
        ({"name": "no-such-model"}, ModelError,
         "unknown model 'no-such-model': not a bundled model"),
        ({"name": "ssdlite-mobilenetv2-person", "family": "yolo"}, ModelError,
         "is a tfod_ssd model, not yolo"),
        ({"classes": ("unicorn",)}, InputError, r"unknown classes \['unicorn'\]"),
    ],
)
def test_bad_model_settings_are_clear_errors(cfg, error, message):
    with pytest.raises(error, match=message):
        OnnxDetector(ModelConfig(**{"warmup_runs": 0, **cfg}))


def test_family_mismatch_is_named(yolo_path):
    with pytest.raises(ModelError, match="does not have the tfod_ssd input/output layout"):
        OnnxDetector(ModelConfig(name=str(yolo_path), family="tfod_ssd"))


def test_corrupt_onnx_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="cannot load model bad.onnx"):
        OnnxDetector(ModelConfig(name=str(bad)))


class StubFamily:
    """A model family from another package: the YOLO layout, its own preprocessing."""

    name = "stub_family"
    seen: list = []

    def __init__(self):
        from models.families import Yolo

        self._yolo = Yolo()

    @staticmethod
    def matches(session):
        return True

    def input_spec(self, session):
        return self._yolo.input_spec(session)

    def labels(self, session):
        return {0: "cart", 1: "forklift"}

    def output_names(self, session):
        return self._yolo.output_names(session)

    def preprocess(self, batch):
        StubFamily.seen.append(batch.shape)
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), np.float32) / 255.0

    def decode(self, outputs, transforms, params):
        return self._yolo.decode(outputs, transforms, params)


def test_a_family_installed_by_entry_point_preprocesses_and_decodes(yolo_path, tmp_path,
                                                                     monkeypatch):
    info = tmp_path / "site" / "stub_family-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stub-family\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[panoray.models]\nstub_family = tests.unit.test_families:StubFamily\n")
    with pytest.raises(ValueError, match="unknown model family 'stub_family'"):
        ModelConfig(family="stub_family")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    StubFamily.seen.clear()
    det, (a, _) = _run(yolo_path, family="stub_family", classes=("cart",))
    assert det.family.name == "stub_family" and det.labels[1] == "forklift"
    assert StubFamily.seen and StubFamily.seen[-1] == (2, SIDE, SIDE, 3)
    np.testing.assert_allclose(a.boxes, [[44, 12, 84, 52]], atol=1e-4)
