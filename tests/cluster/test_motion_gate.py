"""Motion-gated inference in a real pipeline: camera actors, the real Serve detector,
trackers, aggregators and Parquet sinks in the shared Ray session.

The clip is the demo's real video: 6 s of people walking, then the view frozen for 14 s
(the last frame repeated), so the people in it stand still. A ``skip_static``
camera and a plain camera read the same file in one offline run: the gated one must
skip the detector on most of the frozen stretch and still report, window by window, the
occupancy, visits and crossings of the plain one.
"""

from __future__ import annotations

import pathlib
import threading

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig

pytestmark = pytest.mark.cluster

CLIP = pathlib.Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"
FPS = 10
WALK, FROZEN = 60, 140  # frames: 6 s walking, then 14 s of the same view
WINDOW_S = 4.0


def write_frozen_clip(directory: pathlib.Path) -> pathlib.Path:
    """vtest's first WALK frames, then its frame WALK - 1 repeated FROZEN times, as a
    numbered JPEG sequence (the frozen frames are byte-identical, so the plain camera's
    detector sees exactly what the gated camera's reference frame showed)."""
    img1 = directory / "img1"
    img1.mkdir(parents=True)
    cap = cv2.VideoCapture(str(CLIP))
    frames = [cap.read()[1] for _ in range(WALK)]
    cap.release()
    frames += [frames[-1]] * FROZEN
    for i, bgr in enumerate(frames, start=1):
        cv2.imwrite(str(img1 / f"{i:06d}.jpg"), bgr)
    return img1


def _camera(cid: str, url: pathlib.Path, gated: bool) -> dict:
    return {"id": cid, "url": str(url), "inference": {"skip_static": gated},
            "source": {"fps": FPS},
            "zones": [{"id": "everywhere", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]},
                      {"id": "path-west",
                       "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}],
            "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
                       "left_to_right": "westward", "right_to_left": "eastward"}]}


@pytest.fixture(scope="module")
def gated_run(serve_app, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("motion")
    clip = write_frozen_clip(tmp / "frozen")
    cfg = SiteConfig.model_validate({
        "cameras": [_camera("gated", clip, True), _camera("plain", clip, False)],
        "analytics": {"window_s": WINDOW_S, "min_distinct_tracks": 1},
    })
    runner = PipelineRunner(cfg, RunOptions(output_dir=tmp / "out", offline=True),
                            detector=serve_app["handle"])
    runner.start()
    why = runner.wait(threading.Event())
    summary = runner.shutdown()
    assert why == "ended"
    return tmp, summary


def test_the_gated_camera_skips_the_detector_on_the_frozen_stretch(gated_run):
    _, summary = gated_run
    gated, plain = summary["cameras"]["gated"], summary["cameras"]["plain"]
    for cam in (gated, plain):
        assert cam["state"] == "ended" and cam["frames_failed"] == 0
        assert cam["frames_decoded"] == cam["frames_delivered"] == WALK + FROZEN
    assert plain["frames_sent"] == WALK + FROZEN and plain["frames_held"] == 0
    # Frozen 14 s: 0.5 s settle and one forced detection per 5 s go to the detector.
    assert gated["frames_held"] >= FROZEN - 5 - 3
    assert gated["frames_sent"] + gated["frames_held"] == WALK + FROZEN


def test_occupancy_visits_and_crossings_match_the_plain_camera(gated_run):
    tmp, summary = gated_run
    gated, plain = summary["cameras"]["gated"], summary["cameras"]["plain"]
    assert gated["visits"] == plain["visits"] and gated["crossings"] == plain["crossings"]
    metrics = pd.read_parquet(tmp / "out" / "metrics")
    # Windows wholly in the frozen view (the last ones close at the end of the run,
    # complete = false, with the occupancy of the frames they saw).
    zone = metrics[metrics.element_id == "everywhere"]
    frozen = zone[zone.window_start_s >= WALK / FPS]
    by_cam = {str(cid): rows.sort_values("window_start_s")
              for cid, rows in frozen.groupby("camera_id", observed=True)}
    assert len(by_cam["gated"]) == len(by_cam["plain"]) >= 2
    # People stand in view the whole time: the held tracks keep them counted.
    assert (by_cam["gated"].occupancy_max.to_numpy() >= 1).all()
    np.testing.assert_array_equal(by_cam["gated"].occupancy_max, by_cam["plain"].occupancy_max)
    np.testing.assert_allclose(by_cam["gated"].occupancy_mean, by_cam["plain"].occupancy_mean,
                               atol=0.25)
