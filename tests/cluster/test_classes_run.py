"""A multi-class model through the real pipeline counts each class separately.

The model and the clip are built here (:mod:`tests.colour_shapes`): red and blue squares,
found by colour by a small ONNX graph with YOLO's output layout, decoded by the same
family code as a real export, served by the real Detector deployment (ONNX Runtime) on
the session's Ray cluster. Line crossings and zone visits and occupancy per class must
match the clip's truth exactly, in the Parquet events and metrics and in ``/v1/live``.
"""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import ray

from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig
from tests.colour_shapes import FRAMES, LINE, TRUTH, ZONE, build_colour_model, write_clip

pytestmark = pytest.mark.cluster

APP = "colour-squares"


@pytest.fixture(scope="module")
def colour_run(ray_session, tmp_path_factory):
    from ray import serve

    from models.config import ModelConfig, ServingConfig
    from models.deployment import Detector

    tmp = tmp_path_factory.mktemp("classes")
    model = build_colour_model(tmp / "colours.onnx")
    clip = write_clip(tmp / "squares.avi")
    model_cfg = {"name": str(model), "family": "yolo", "classes": [], "warmup_runs": 1}
    serving = ServingConfig(replicas=1, num_cpus=0.1)
    handle = serve.run(
        Detector.options(num_replicas=1, ray_actor_options={"num_cpus": 0.1}).bind(
            ModelConfig(**model_cfg), serving),
        name=APP, route_prefix=None)
    try:
        cfg = SiteConfig.model_validate({
            "cameras": [{"id": "squares", "url": str(clip), "zones": [ZONE], "lines": [LINE]}],
            "model": model_cfg,
            # one window over the whole clip, k = 1: every figure is published
            "analytics": {"window_s": 60, "min_distinct_tracks": 1},
        })
        runner = PipelineRunner(cfg, RunOptions(output_dir=tmp / "out", offline=True),
                                detector=handle)
        runner.start()
        why = runner.wait(threading.Event())
        live = ray.get(runner.controller.live.remote())
        summary = runner.shutdown()
    finally:
        serve.delete(APP)
    assert why == "ended"
    assert summary["cameras"]["squares"]["frames_delivered"] == FRAMES
    return (pd.read_parquet(tmp / "out" / "events"), pd.read_parquet(tmp / "out" / "metrics"),
            live["cameras"]["squares"])


def test_line_crossings_per_class_match_the_clip(colour_run):
    events, metrics, live = colour_run
    crossings = events[events.kind == "line_cross"]
    got = {c: {d: int(((crossings.class_name == c) & (crossings.direction == d)).sum())
               for d in ("eastward", "westward")} for c in ("red", "blue")}
    assert got == TRUTH["crossings"]
    rows = metrics[metrics.element_id == "middle"].set_index("class_name")
    assert {c: {"westward": int(rows.lr_count[c]), "eastward": int(rows.rl_count[c])}
            for c in ("red", "blue")} == TRUTH["crossings"]
    assert live["lines_by_class"]["middle"] == TRUTH["crossings"]


def test_zone_visits_and_occupancy_per_class_match_the_clip(colour_run):
    events, metrics, live = colour_run
    enters = events[events.kind == "zone_enter"]
    assert enters.groupby("class_name").size().to_dict() == TRUTH["visits"]
    rows = metrics[metrics.element_id == "west"].set_index("class_name")
    assert rows.visits.astype(int).to_dict() == TRUTH["visits"]
    assert rows.occupancy_max.astype(int).to_dict() == TRUTH["occupancy_max"]
    zone = live["zones"]["west"]
    assert {c: z["occupancy"] for c, z in zone["by_class"].items()} == TRUTH["occupancy_end"]
    assert zone["occupancy"] == sum(TRUTH["occupancy_end"].values())
