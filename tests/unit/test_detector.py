"""The bundled person detector on real photographs, through real ONNX Runtime."""

import numpy as np
import onnxruntime as ort
import pytest

from models.config import ModelConfig
from models.detector import OnnxDetector
from models.preprocess import prepare_frame
from models.registry import BUNDLED, DEFAULT_MODEL
from models.session import PROVIDER_NAMES, create_session, short_provider_name
from pipeline.errors import InputError, ProviderUnavailableError
from tests.images import ASTRONAUT_PERSON_BOX, astronaut_rgb, iou


@pytest.fixture(scope="module")
def detector():
    return OnnxDetector(ModelConfig())


def test_astronaut_is_one_person_with_the_right_box(detector):
    d = detector.detect_image(astronaut_rgb(), color="RGB")
    assert len(d) == 1
    assert d.scores[0] > 0.5 and d.class_ids[0] == 1
    assert iou(d.boxes[0], ASTRONAUT_PERSON_BOX) > 0.5


def test_batch_equals_one_by_one_and_boxes_follow_the_original_size(detector):
    rgb = astronaut_rgb()
    wide = np.ascontiguousarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1))  # 1024x512
    frames, sizes, singles = [], [], []
    for image in (rgb, wide):
        small, tf = prepare_frame(image, detector.input_spec, color="RGB")
        frames.append(small)
        sizes.append((tf.width, tf.height))
        singles.append(detector.detect([small], [(tf.width, tf.height)])[0])
    batched = detector.detect(frames, sizes)
    for one, many in zip(singles, batched):
        np.testing.assert_allclose(one.boxes, many.boxes, atol=0.05)
    assert len(batched[1]) == 2  # the person and her mirror image
    assert batched[1].boxes[:, 2].max() > 512  # boxes are in the 1024-wide frame's pixels


def test_per_request_threshold_and_empty_batch(detector):
    small, _ = prepare_frame(astronaut_rgb(), detector.input_spec, color="RGB")
    strict = detector.params(threshold=0.999)
    assert len(detector.detect([small], [(512, 512)], [strict])[0]) == 0
    assert detector.detect([], []) == []


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((512, 512, 3), np.uint8), r"frame must be uint8 with shape \(300, 300, 3\)"),
        (np.zeros((300, 300, 3), np.float32), r"got float32 \(300, 300, 3\)"),
        ("not an image", "frame must be a numpy array, got str"),
    ],
)
def test_frames_not_at_the_model_size_are_refused(detector, frame, message):
    with pytest.raises(InputError, match=message):
        detector.detect([frame], [(512, 512)])


@pytest.mark.parametrize("asked", [("dog",), ("unicorn",), ("person", "dog")])
def test_a_request_for_a_class_not_detected_names_the_classes_that_are(detector, asked):
    """The model knows 80 COCO labels, but the detector keeps only ``person`` (what
    info() and GET /v1/models report): asking for a dog is refused, naming that."""
    assert detector.info()["classes"] == ["person"]
    with pytest.raises(InputError, match=r"unknown classes \[.*'(dog|unicorn)'\]") as err:
        detector.params(classes=asked)
    assert str(err.value).endswith("it detects ['person']")
    assert "airplane" not in str(err.value) and err.value.field == "classes"
    assert detector.params(classes=("person",)).class_ids == frozenset({1})


def test_with_no_classes_configured_every_label_of_the_model_may_be_asked_for():
    every = OnnxDetector(ModelConfig(classes=(), warmup_runs=0))
    dog = next(i for i, label in every.labels.items() if label == "dog")
    assert every.params(classes=("dog",)).class_ids == frozenset({dog})
    with pytest.raises(InputError, match=r"it detects 80 classes: \['airplane', .*\] and 60 "
                                         "more$"):
        every.params(classes=("unicorn",))


def test_info_reports_the_provider_that_really_runs(detector):
    info = detector.info()
    assert info["provider"] == short_provider_name(detector.session.get_providers()[0])
    assert info["model"] == DEFAULT_MODEL and info["input"]["width"] == 300


def test_bundled_model_file_is_present():
    assert BUNDLED[DEFAULT_MODEL].path.stat().st_size > 10_000_000


def test_explicit_cpu_provider():
    _, running = create_session(BUNDLED[DEFAULT_MODEL].path, "cpu")
    assert running == "cpu"


def test_asking_for_cuda_without_a_gpu_is_an_error_not_a_fallback():
    try:
        _, running = create_session(BUNDLED[DEFAULT_MODEL].path, "cuda")
    except ProviderUnavailableError as exc:
        assert exc.requested == "cuda"
        assert "cuda" in str(exc) and "cannot run here" in str(exc)
    else:  # a machine with a working GPU: then CUDA must really be what runs
        assert running == "cuda"
        assert PROVIDER_NAMES["cuda"] in ort.get_available_providers()
