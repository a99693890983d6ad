"""A real multi-class path with known truth: a clip of coloured squares and a model that
finds them by colour.

:func:`write_clip` draws red and blue squares moving over a dark background in four
horizontal lanes (an MJPG .avi written with OpenCV). :func:`build_colour_model` builds, with
``onnx.helper``, a small ONNX graph with Ultralytics YOLO's layout (input float32
(N, 3, 128, 128) RGB in 0..1, output (N, 4 + 2, A) with cx, cy, w, h in input pixels and
one score per class) and ``names`` metadata ``{0: 'red', 1: 'blue'}``: per lane and colour
it thresholds the colour and emits the bounding box of what it found (score 1) or an empty
anchor (score 0). The pipeline decodes it with the same :class:`models.families.Yolo` code
as a real export. :data:`TRUTH` is what the clip holds, by construction.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

SIDE = 256  # frame width and height, pixels
INPUT = 128  # the model's input side, pixels (the frame is scaled by 0.5, no padding)
LANES = 4  # horizontal lanes of SIDE / LANES pixels; at most one square per colour each
HALF = 20  # half the side of a square, frame pixels
FPS = 10.0
FRAMES = 110  # the last 4 s still: the live view lags by the smoother's lookahead (3 s)
LABELS = {0: "red", 1: "blue"}
COLOURS_BGR = {"red": (30, 30, 230), "blue": (230, 40, 30)}

# (colour, lane, [(frame, centre x)] keyframes; linear between, absent outside)
SQUARES = (
    ("red", 0, [(0, 40), (39, 216)]),              # crosses the middle eastwards, leaves
    ("blue", 1, [(0, 50), (FRAMES - 1, 50)]),              # stays in the left half
    ("blue", 2, [(10, 216), (40, 50), (FRAMES - 1, 50)]),  # comes in westwards, stays
    ("red", 3, [(40, 216), (70, 50), (FRAMES - 1, 50)]),   # comes in westwards, stays
)

ZONE = {"id": "west", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "min_visit_s": 1.0,
        "exit_grace_s": 1.0, "classes": ["red", "blue"]}
LINE = {"id": "middle", "start": [0.5, 0], "end": [0.5, 1], "left_to_right": "westward",
        "right_to_left": "eastward", "classes": ["red", "blue"]}

TRUTH = {
    # crossings of the middle line, per class and direction
    "crossings": {"red": {"eastward": 1, "westward": 1}, "blue": {"eastward": 0, "westward": 1}},
    # visits of the west zone, per class, and the most of each class in it at once
    "visits": {"red": 2, "blue": 2},
    "occupancy_max": {"red": 1, "blue": 2},
    # in the zone at the end
    "occupancy_end": {"red": 1, "blue": 2},
}


def square_x(keys: list[tuple[int, int]], frame: int) -> float | None:
    """The square's centre x at ``frame`` (pixels), or None when it is not in the clip."""
    if frame < keys[0][0] or frame > keys[-1][0]:
        return None
    return float(np.interp(frame, [k for k, _ in keys], [x for _, x in keys]))


def write_clip(path: pathlib.Path) -> pathlib.Path:
    """Writes the clip (MJPG in an .avi, FPS frames a second) and returns its path."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (SIDE, SIDE))
    lane_h = SIDE // LANES
    try:
        for k in range(FRAMES):
            img = np.full((SIDE, SIDE, 3), 25, np.uint8)
            for colour, lane, keys in SQUARES:
                x = square_x(keys, k)
                if x is None:
                    continue
                cy = lane * lane_h + lane_h // 2
                cv2.rectangle(img, (round(x) - HALF, cy - HALF), (round(x) + HALF, cy + HALF),
                              COLOURS_BGR[colour], -1)
            writer.write(img)
    finally:
        writer.release()
    return path


def build_colour_model(path: pathlib.Path) -> pathlib.Path:
    """Builds the colour-finding ONNX graph (YOLO layout) and saves it at ``path``."""
    import onnx
    from onnx import TensorProto, helper

    lane_h = INPUT // LANES
    nodes, inits = [], []

    def const(name: str, values: list, dtype: int = TensorProto.INT64) -> str:
        inits.append(helper.make_tensor(name, dtype, [len(values)], values))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    for c, name in enumerate(("r", "g", "b")):
        node("Slice", ["images", const(f"s{c}", [c]), const(f"e{c}", [c + 1]),
                       const(f"a{c}", [1])], name)
    half, low = const("half", [0.5], TensorProto.FLOAT), const("low", [0.3], TensorProto.FLOAT)
    hi = {n: node("Greater", [n, half], f"{n}_hi") for n in ("r", "b")}
    lo = {n: node("Less", [n, low], f"{n}_lo") for n in ("r", "g", "b")}
    masks = {
        "red": node("And", [node("And", [hi["r"], lo["g"]], "rg"), lo["b"]], "red"),
        "blue": node("And", [node("And", [hi["b"], lo["g"]], "bg"), lo["r"]], "blue"),
    }
    shape = const("lanes", [0, LANES, lane_h, INPUT])  # (N, 1, H, W) -> (N, lanes, h, W)
    idx = {"x": helper.make_tensor("xs", TensorProto.FLOAT, [INPUT], list(range(INPUT))),
           "y": helper.make_tensor("ys", TensorProto.FLOAT, [lane_h], list(range(lane_h)))}
    inits += list(idx.values())
    offsets = helper.make_tensor("lane_top", TensorProto.FLOAT, [LANES],
                                 [float(k * lane_h) for k in range(LANES)])
    inits.append(offsets)
    big, one = const("big", [1e6], TensorProto.FLOAT), const("one", [1.0], TensorProto.FLOAT)
    per_class = []
    for cls, mask in masks.items():
        m = node("Cast", [node("Reshape", [mask, shape], f"{cls}_l")], f"{cls}_f",
                 to=TensorProto.FLOAT)
        cols = node("ReduceMax", [m, const(f"{cls}_ax2", [2])], f"{cls}_cols",
                    keepdims=0)  # (N, lanes, W)
        rows = node("ReduceMax", [m, const(f"{cls}_ax3", [3])], f"{cls}_rows",
                    keepdims=0)  # (N, lanes, h)
        ends = []
        for axis_name, present in (("x", cols), ("y", rows)):
            # first and last index present: min and max of index where present
            at = node("Mul", [present, idx[axis_name].name], f"{cls}_{axis_name}_at")
            absent = node("Mul", [node("Sub", [one, present], f"{cls}_{axis_name}_no"), big],
                          f"{cls}_{axis_name}_far")
            first = node("ReduceMin", [node("Add", [at, absent], f"{cls}_{axis_name}_lo"),
                                       const(f"{cls}_{axis_name}_a1", [2])],
                         f"{cls}_{axis_name}1", keepdims=0)  # (N, lanes)
            last = node("ReduceMax", [at, const(f"{cls}_{axis_name}_a2", [2])],
                        f"{cls}_{axis_name}2", keepdims=0)
            ends.append((first, last))
        (x1, x2), (y1, y2) = ends
        y1 = node("Add", [y1, "lane_top"], f"{cls}_y1p")
        y2 = node("Add", [y2, "lane_top"], f"{cls}_y2p")
        w = node("Add", [node("Sub", [x2, x1], f"{cls}_dw"), one], f"{cls}_w")
        h = node("Add", [node("Sub", [y2, y1], f"{cls}_dh"), one], f"{cls}_h")
        cx = node("Div", [node("Add", [x1, node("Add", [x2, one], f"{cls}_x2e")],
                               f"{cls}_xs"), const(f"{cls}_two", [2.0], TensorProto.FLOAT)],
                  f"{cls}_cx")
        cy = node("Div", [node("Add", [y1, node("Add", [y2, one], f"{cls}_y2e")],
                               f"{cls}_ys"), f"{cls}_two"], f"{cls}_cy")
        found = node("ReduceMax", [cols, const(f"{cls}_a3", [2])], f"{cls}_found",
                     keepdims=0)  # (N, lanes): 1 where the lane has this colour
        # an empty lane's box is garbage but scores 0 for both classes
        zero = node("Mul", [found, const(f"{cls}_zero", [0.0], TensorProto.FLOAT)],
                    f"{cls}_none")
        scores = [found, zero] if cls == "red" else [zero, found]
        rows6 = [node("Mul", [v, found], f"{cls}_{i}_kept") for i, v in
                 enumerate((cx, cy, w, h))] + scores
        per_class.append(node("Concat", [node("Unsqueeze", [r, const(f"{cls}_u{i}", [1])],
                                              f"{cls}_u{i}o") for i, r in enumerate(rows6)],
                              f"{cls}_out", axis=1))  # (N, 6, lanes)
    node("Concat", per_class, "output0", axis=2)  # (N, 6, 2 * lanes)
    graph = helper.make_graph(
        nodes, "colour_squares",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, INPUT, INPUT])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 6, 2 * LANES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": repr(LABELS)})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
