"""The whole pipeline on real video: camera actors, the real Serve detector, trackers,
aggregators and Parquet sinks, in the shared Ray session."""

import pathlib

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluation import evaluate, read_mot
from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig

pytestmark = pytest.mark.cluster

CLIP = pathlib.Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"
FPS = 10.0  # the clip's frame rate
FRAMES = 300  # 30 s of media: enough people to cross the line and visit the zone


def _camera(cid: str, frames: int = FRAMES) -> dict:
    return {"id": cid, "url": str(CLIP),
            "zones": [{"id": "path-west",
                       "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}],
            "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
                       "left_to_right": "westward", "right_to_left": "eastward"}],
            "source": {"max_frames": frames}}


def _run(serve_app, tmp: pathlib.Path, cameras: list[dict]) -> dict:
    cfg = SiteConfig.model_validate({
        "cameras": cameras,
        # k = 1: no suppression, so that window totals can be compared with events
        "analytics": {"window_s": 10, "min_distinct_tracks": 1},
    })
    runner = PipelineRunner(
        cfg, RunOptions(output_dir=tmp / "out", offline=True, export_tracks=tmp / "tracks"),
        detector=serve_app["handle"],
    )
    runner.start()
    import threading

    why = runner.wait(threading.Event())
    summary = runner.shutdown()
    assert why == "ended"
    return summary


@pytest.fixture(scope="module")
def single_run(serve_app, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    return tmp, _run(serve_app, tmp, [_camera("cam-x")])


def test_offline_run_loses_no_frame(single_run):
    _, summary = single_run
    cam = summary["cameras"]["cam-x"]
    assert cam["state"] == "ended"
    assert cam["frames_decoded"] == cam["frames_delivered"] == FRAMES
    assert cam["frames_dropped"] == 0 and cam["frames_failed"] == 0


def test_events_metrics_and_tracks_agree(single_run):
    tmp, summary = single_run
    events = pd.read_parquet(tmp / "out" / "events")
    metrics = pd.read_parquet(tmp / "out" / "metrics")
    crossings = events[events.kind == "line_cross"]
    enters = events[events.kind == "zone_enter"]
    assert len(crossings) > 0 and len(enters) > 0, "a real clip must produce events"

    line_rows = metrics[metrics.element_id == "lamp-post"]
    by_direction = crossings.groupby("direction").size().to_dict()
    assert by_direction.get("westward", 0) == line_rows.lr_count.sum()
    assert by_direction.get("eastward", 0) == line_rows.rl_count.sum()
    assert summary["cameras"]["cam-x"]["crossings"]["lamp-post"] == {
        "westward": by_direction.get("westward", 0), "eastward": by_direction.get("eastward", 0)}

    zone_rows = metrics[metrics.element_id == "path-west"]
    assert (len(enters) == zone_rows.visits.sum()
            == summary["cameras"]["cam-x"]["visits"]["path-west"])
    exits = events[events.kind == "zone_exit"]
    assert (exits.dwell_s > 0).all()

    tracks = read_mot(tmp / "tracks" / "cam-x.txt")
    assert tracks.frames.max() <= FRAMES and tracks.frames.min() >= 1
    for _, ev in crossings.iterrows():
        rows = tracks.ids == ev.track_id
        assert rows.any(), f"crossing by track {ev.track_id} not in the exported tracks"
        frames = tracks.frames[rows]
        frame_of_event = round(ev.pts_s * FPS) + 1
        assert frames.min() <= frame_of_event <= frames.max()


def test_exported_tracks_load_in_the_evaluation_module(single_run):
    tmp, _ = single_run
    tracks = read_mot(tmp / "tracks" / "cam-x.txt")
    assert len(tracks) > 100
    scores = evaluate(tracks, tracks)
    assert scores["HOTA"] == pytest.approx(1.0) and scores["IDF1"] == pytest.approx(1.0)


def test_heatmaps_are_drawn_over_a_still_of_the_camera(single_run):
    import cv2

    tmp, _ = single_run
    pngs = sorted((tmp / "out" / "heatmaps").rglob("*.png"))
    assert len(pngs) >= FRAMES / FPS / 10  # one per 10 s window
    image = cv2.imread(str(pngs[-1]))
    assert image.shape[1] <= 640  # stills are downscaled before they leave the camera
    # a real background (the camera's blurred still), not the flat grey used without one
    grey = (np.abs(image.astype(int) - image[0, 0].astype(int)).sum(axis=2) < 6).mean()
    assert grey < 0.5, f"{grey:.0%} of the heatmap is one flat colour"


def test_offline_runs_are_deterministic_with_other_cameras_beside(serve_app, single_run, tmp_path):
    tmp_alone, _ = single_run
    # the others detect on whole frames (cheaper), so that cam-x's tiles share batches
    # with frames of another kind too
    others = [{**_camera(f"other-{i}", frames=FRAMES // 2 + 37 * i),
               "inference": {"tiling": None}} for i in range(4)]
    _run(serve_app, tmp_path, [*others[:2], _camera("cam-x"), *others[2:]])
    assert ((tmp_alone / "tracks" / "cam-x.txt").read_text()
            == (tmp_path / "tracks" / "cam-x.txt").read_text())

    def events(root: pathlib.Path) -> pd.DataFrame:
        df = pd.read_parquet(root / "out" / "events", filters=[("camera_id", "=", "cam-x")])
        cols = ["kind", "element_id", "direction", "track_id", "pts_s", "dwell_s"]
        return (df[cols].sort_values(["pts_s", "kind", "element_id", "track_id"])
                .reset_index(drop=True))

    pd.testing.assert_frame_equal(events(tmp_alone), events(tmp_path))

    def metrics(root: pathlib.Path) -> pd.DataFrame:
        df = pd.read_parquet(root / "out" / "metrics", filters=[("camera_id", "=", "cam-x")])
        df = df.drop(columns=["window_start_at", "date", "camera_id", "run_id"])
        return df.sort_values(["window_start_s", "element_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(metrics(tmp_alone), metrics(tmp_path))
    # the same ids in both runs, told apart by the run id every row carries
    run_ids = [set(pd.read_parquet(root / "out" / table).run_id)
               for root in (tmp_alone, tmp_path) for table in ("events", "metrics")]
    assert run_ids[0] == run_ids[1] and run_ids[2] == run_ids[3]
    assert len(run_ids[0]) == len(run_ids[2]) == 1 and run_ids[0] != run_ids[2]
    heat_a = sorted((tmp_alone / "out" / "heatmaps").rglob("camera_id=cam-x/*.npy"))
    heat_b = sorted((tmp_path / "out" / "heatmaps").rglob("camera_id=cam-x/*.npy"))

    def window(p):  # window-<start>-<run_id>-<sink token>-<seq>.npy: the start is the window
        return p.name.split("-")[1]

    heat_a, heat_b = sorted(heat_a, key=window), sorted(heat_b, key=window)
    assert [window(p) for p in heat_a] == [window(p) for p in heat_b]
    for a, b in zip(heat_a, heat_b):
        np.testing.assert_array_equal(np.load(a), np.load(b))
