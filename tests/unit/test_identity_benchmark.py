"""The identity benchmark's own logic: the detection noise model (fit and simulation), the
scene placement rule, scoring with "ignore" people, and the command line. No Ray, no
model, no ../shared data: trajectories are the TUD ground truth shipped in ``motmetrics``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logit, ndtri

from benchmarks import identity
from benchmarks.detsim import EXTRA_TERMS, FUSED_TERMS, prepare, simulate
from benchmarks.detsim_fit import fit
from benchmarks.detsim_model import (
    BackgroundModel,
    BoxErrorModel,
    EventModel,
    NoiseModel,
    Ranges,
    ScoreModel,
    latent,
)
from benchmarks.detsim_obs import FUSED, concat, observe
from benchmarks.detsim_views import QUANTILE_POINTS, CellView, Clip, FullFrameView
from benchmarks.evaluation import MotSequence, read_mot
from benchmarks.identity_scoring import drop_ignored
from benchmarks.scene_analytics import place_scene

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = 0.4
# Known parameters the fit must recover: probit of detection in log height, log squeeze
# and occlusion; logit-score scale; a fast and a slow latent part.
ETA = {"1": 0.6, "lh": 1.2, "lsq": 0.8, "occ": -2.5}
SIGMA = 1.3
TIMESCALES = ((0.5, 0.3), (0.4, 6.0))
DLW_BIAS = 0.15
EXTRA_RATE = 0.03
BACKGROUND_RATE = 0.05


def tud(name: str) -> Clip:
    motmetrics = pytest.importorskip("motmetrics")
    gt = read_mot(Path(motmetrics.__file__).parent / "data" / name / "gt.txt")
    return Clip(name, gt, np.arange(gt.num_frames) / 25.0, 640, 480)


def known_model(**parts: object) -> NoiseModel:
    """A noise model with hand-set parameters (see the constants above)."""
    c = float(logit(THRESHOLD))
    beta = np.zeros(10)
    for term, k in (("1", 0), ("lh", 1), ("lsq", 3), ("occ", 5)):
        beta[k] = SIGMA * ETA[term]
    beta[0] += c
    normal = ndtri(np.clip(np.linspace(0, 1, QUANTILE_POINTS), 0.002, 0.998))
    log_scale = np.zeros((4, 10))
    log_scale[:, 0] = np.log([0.06, 0.03, 0.08, 0.04])
    loc = np.zeros((4, 10))
    loc[2, 0] = DLW_BIAS
    box = BoxErrorModel(loc, log_scale, np.tile(normal, (4, 1)), np.eye(4),
                        (((0.8, 0.5),),) * 4)
    pool = np.array([[dx, 0.0, 0.1, 0.0, 0.55] for dx in (-0.7, -0.5, 0.5, 0.7)])
    model = NoiseModel(
        threshold=THRESHOLD, model_input=(300, 300, "plain"),
        ranges=Ranges((10.0, 300.0), (0.2, 1.4)),
        score=ScoreModel(tuple(beta), SIGMA, TIMESCALES), box=box,
        fused=EventModel(FUSED_TERMS, (-20.0, 0.0, 0.0, 0.0), (), np.zeros((0, 5))),
        extra=EventModel(EXTRA_TERMS, (float(logit(EXTRA_RATE)), 0.0, 0.0, 0.0, 0.0),
                         ((0.8, 0.4),), pool),
        background=BackgroundModel(BACKGROUND_RATE, 0.3, np.array([[25.0, 60.0]] * 4),
                                   np.array([0.45, 0.5, 0.55, 0.6])),
        nms_iou=0.6)
    return dataclasses.replace(model, **parts)


def known_eta(h_model: np.ndarray, squeeze: np.ndarray, visible: np.ndarray) -> np.ndarray:
    return (ETA["1"] + ETA["lh"] * np.log(h_model / 80.0) + ETA["lsq"] * np.log(squeeze / 0.75)
            + ETA["occ"] * (1.0 - visible))


# Views of a 640 x 480 frame: three squeezes (4:3, 8:3 and 16:3 through a square input)
# and people at full and half size in model pixels.
VIEWS = (FullFrameView(300 / 640, 300 / 480), FullFrameView(300 / 960, 300 / 480),
         FullFrameView(300 / 1920, 300 / 480), FullFrameView(300 / 1280, 300 / 960))


# ----------------------------------------------------------------------------- fit


@pytest.fixture(scope="module")
def recovered() -> tuple[NoiseModel, NoiseModel]:
    truth = known_model()
    parts = []
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        clip = tud(name)
        for k, view in enumerate(VIEWS):
            feats = prepare(clip, view)
            for seed in range(2):
                dets = simulate(truth, feats, 10 * k + seed)
                parts.append(observe(clip, dets, view, THRESHOLD, scene=feats))
    return truth, fit(concat(parts), THRESHOLD, (300, 300, "plain"), "synthetic")


def test_fit_recovers_recall_by_size_squeeze_and_occlusion(recovered):
    truth, fitted = recovered
    h = np.array([40.0, 80.0, 150.0, 80.0, 80.0, 80.0, 60.0])
    sq = np.array([0.75, 0.75, 0.75, 0.3, 0.5, 0.75, 0.5])
    vis = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.7])
    want = truth.score.recall(h, sq, vis, truth.ranges, THRESHOLD)
    got = fitted.score.recall(h, sq, vis, fitted.ranges, THRESHOLD)
    assert np.abs(got - want).max() < 0.07, (got.round(3), want.round(3))


def test_fit_recovers_score_scale_box_errors_and_rates(recovered):
    _, fitted = recovered
    assert fitted.score.sigma == pytest.approx(SIGMA, rel=0.2)
    # Box errors at the reference size: the width bias, and a centre spread of 0.06 widths.
    x = np.zeros((1, 10))
    x[0, 0] = 1.0
    assert (x @ fitted.box.loc[2])[0] == pytest.approx(DLW_BIAS, abs=0.03)
    grid = np.linspace(0, 1, QUANTILE_POINTS)
    iqr = np.exp((x @ fitted.box.log_scale[0])[0]) * np.subtract(
        *np.interp([0.75, 0.25], grid, fitted.box.quantiles[0]))
    assert iqr == pytest.approx(0.06 * 1.349, rel=0.25)
    p_extra = 1 / (1 + np.exp(-fitted.extra.beta[0]))
    assert p_extra == pytest.approx(EXTRA_RATE, rel=0.5)
    assert fitted.background.rate_per_frame == pytest.approx(BACKGROUND_RATE, rel=0.6)


def test_fit_recovers_how_long_misses_last(recovered):
    _, fitted = recovered

    def corr(timescales, lag_s):
        return sum(a * np.exp(-lag_s / tau) for a, tau in timescales)

    for lag in (0.04, 0.2, 1.0, 3.0):
        assert corr(fitted.score.timescales, lag) == pytest.approx(
            corr(TIMESCALES, lag), abs=0.15), (lag, fitted.score.timescales)


# ----------------------------------------------------------------------------- simulation


def test_simulated_recall_follows_size_and_occlusion():
    model = known_model(nms_iou=1.0, extra=dataclasses.replace(known_model().extra,
                                                               pool=np.zeros((0, 5))))
    clip, view = tud("TUD-Stadtmitte"), VIEWS[0]
    feats = prepare(clip, view)
    obs = concat([observe(clip, simulate(model, feats, s), view, THRESHOLD, scene=feats)
                  for s in range(8)])
    expected = model.score.recall(obs.h_model, obs.squeeze, obs.visible, model.ranges,
                                  THRESHOLD)
    for lo, hi in ((0.0, 0.5), (0.5, 0.9), (0.9, 1.01)):
        band = (obs.visible >= lo) & (obs.visible < hi) & (obs.state != FUSED)
        assert obs.hit[band].mean() == pytest.approx(expected[band].mean(), abs=0.05)
    # Detected scores follow the latent's scale above the threshold.
    assert (obs.score[obs.hit] >= THRESHOLD).all()


def test_miss_runs_are_set_in_seconds_not_frames():
    """The same person missed 0.2 s later is as likely at 25 fps as at 5 fps."""
    model = known_model(nms_iou=1.0)
    clip = tud("TUD-Stadtmitte")

    def p_still_missed(c: Clip, lag_frames: int, seeds: range) -> float:
        feats = prepare(c, VIEWS[0])
        both = first = 0
        for s in seeds:
            o = observe(c, simulate(model, feats, s), VIEWS[0], THRESHOLD, scene=feats)
            key = {(g, f): k for k, (g, f) in enumerate(zip(o.group, o.frame, strict=True))}
            for k in np.flatnonzero(o.state == 0):
                j = key.get((o.group[k], o.frame[k] + lag_frames))
                if j is not None:
                    first += 1
                    both += o.state[j] == 0
        return both / first

    fast = p_still_missed(clip, 5, range(6))
    slow = p_still_missed(clip.every(5), 1, range(30))
    assert fast == pytest.approx(slow, abs=0.06)
    assert fast > 0.6  # misses do come in runs (independent frames would give ~0.3)


def test_background_rate_and_persistence():
    never = known_model(score=ScoreModel((-30.0,) + (0.0,) * 9, SIGMA, ()),
                        background=BackgroundModel(0.4, 0.2, np.array([[20.0, 50.0]]),
                                                   np.array([0.6])))
    clip = tud("TUD-Campus")
    feats = prepare(clip, VIEWS[0])
    counts, stayed, prev_total = [], 0, 0
    for s in range(10):
        dets = simulate(never, feats, s)
        counts += [len(d) for d in dets]
        for a, b in zip(dets, dets[1:], strict=False):
            prev_total += len(b)
            stayed += sum(bool(len(a)) and np.abs(a.boxes - box).max(axis=1).min() < 5
                          for box in b.boxes)
    assert np.mean(counts) == pytest.approx(0.4, rel=0.25)
    assert stayed / prev_total == pytest.approx(np.exp(-0.04 / 0.2), abs=0.12)


def test_fused_boxes_replace_two_overlapping_people_at_the_set_rate():
    frames = np.repeat(np.arange(1, 201), 2)
    ids = np.tile([1, 2], 200)
    x = np.where(ids == 1, 200.0, 240.0) + np.repeat(np.arange(200), 2)
    tlwh = np.stack([x, np.full(400, 100.0), np.full(400, 80.0), np.full(400, 200.0)], 1)
    clip = Clip("pair", MotSequence(frames, ids, tlwh, np.ones(400), 200),
                np.arange(200) / 25.0, 640, 480)
    always = ScoreModel((8.0,) + (0.0,) * 9, 1.0, ())
    rate = 0.2
    model = known_model(score=always, nms_iou=1.0,
                        extra=dataclasses.replace(known_model().extra, pool=np.zeros((0, 5))),
                        background=BackgroundModel(0.0, 1.0, np.zeros((0, 2)), np.zeros(0)),
                        fused=EventModel(FUSED_TERMS, (float(logit(rate)), 0.0, 0.0, 0.0),
                                         ((0.5, 0.3),), np.array([[0.0, 0.0, 0.3, 0.0, 0.7]])))
    feats = prepare(clip, VIEWS[0])
    assert len(feats.pair_rows) == 200  # the two overlap (IoU 0.43) in every frame
    obs = [observe(clip, simulate(model, feats, s), VIEWS[0], THRESHOLD, scene=feats)
           for s in range(10)]
    fused = np.mean([o.pair_fused.mean() for o in obs])
    assert fused == pytest.approx(rate, abs=0.05)
    # ... and a fused pair's people have no box of their own (keep_individual 0).
    assert sum(o.fused_members for o in obs) > 0
    assert sum(o.fused_members_hit for o in obs) == 0


def test_latent_correlation_decays_with_media_time_at_any_frame_rate():
    groups = np.repeat(np.arange(300), 50)
    for fps in (25.0, 5.0):
        t = np.tile(np.arange(50) / fps, 300)
        z = latent(groups, t, ((0.6, 1.0),), np.random.default_rng(0))[:, 0].reshape(300, 50)
        lag = int(round(0.4 * fps))
        r = np.corrcoef(z[:, :-lag].ravel(), z[:, lag:].ravel())[0, 1]
        assert r == pytest.approx(0.6 * np.exp(-0.4), abs=0.04)
        assert z.std() == pytest.approx(1.0, abs=0.03)


def test_views_give_model_input_height_and_squeeze():
    box = np.array([[100.0, 100.0, 160.0, 340.0]])  # 240 px tall
    h, sq = FullFrameView.for_frame(1920, 1080, 300, 300).features(box)
    assert (round(float(h[0]), 1), round(float(sq[0]), 4)) == (66.7, 0.5625)
    # The same frame in a cell of a 2 x 3 mosaic: half the height, squeezed by 0.5.
    cell = CellView(FullFrameView.for_frame(960, 480, 300, 300), 0.5, (320.0, 0.0))
    h, sq = cell.features(np.array([[100.0, 100.0, 160.0, 340.0]]))
    assert (round(float(h[0]), 2), round(float(sq[0]), 3)) == (75.0, 0.5)


# ----------------------------------------------------------------------------- scenes


def walkers(direction: str) -> tuple[MotSequence, np.ndarray]:
    """Six people walking across a 640 x 480 view, left-right or up-down, for 100 frames."""
    rows = []
    for pid in range(6):
        for f in range(100):
            s = 40 + 5 * f if pid % 2 == 0 else 540 - 5 * f
            lane = 150 + 40 * pid
            x, y = (s, lane) if direction == "horizontal" else (lane, s * 0.75)
            rows.append((f + 1, pid + 1, x - 15, y - 80, 30, 80))
    a = np.array(rows, np.float64)
    return MotSequence(a[:, 0], a[:, 1], a[:, 2:6], np.ones(len(a)), 100), np.arange(100) / 10


def test_scene_is_placed_across_and_along_the_walk():
    seq, times = walkers("horizontal")
    scene = place_scene(seq, times, 640, 480)
    x0, y0, x1, y1 = scene.head_on
    assert abs(x1 - x0) < 0.01 and abs(y1 - y0) > 0.2  # across the walk: vertical
    x0, y0, x1, y1 = scene.along
    assert abs(y1 - y0) < 0.01 and abs(x1 - x0) > 0.5  # along the walk: horizontal
    zx, zy = np.array(scene.zone).T
    assert zx.min() < 0.5 < zx.max() and zy.min() < zy.max()
    seq, times = walkers("vertical")
    x0, y0, x1, y1 = place_scene(seq, times, 640, 480).head_on
    assert abs(y1 - y0) < 0.01 and abs(x1 - x0) > 0.2


def test_scene_placement_is_deterministic():
    clip = tud("TUD-Stadtmitte")
    a = place_scene(clip.truth, clip.times_s, 640, 480)
    b = place_scene(clip.truth, clip.times_s, 640, 480)
    assert a == b
    shuffled = clip.truth.keep(np.random.default_rng(0).permutation(len(clip.truth)) >= 0)
    assert place_scene(shuffled, clip.times_s, 640, 480) == a


# ----------------------------------------------------------------------------- harness


@pytest.mark.parametrize(("fps", "step"), [(30.0, 4), (25.0, 3), (14.0, 2), (10.0, None),
                                           (7.0, None)])
def test_subsampled_variant_runs_near_7_fps(fps, step):
    assert identity.subsample_step(fps) == step


def test_boxes_on_ignored_people_are_dropped_before_scoring():
    truth = MotSequence([1, 1], [1, 2], [[0, 0, 50, 100], [300, 0, 50, 100]], [1, 0], 1)
    pred = MotSequence([1, 1, 1], [7, 8, 9],
                       [[2, 0, 50, 100], [301, 1, 50, 100], [500, 0, 50, 100]], [1, 1, 1], 1)
    assert drop_ignored(truth, pred).ids.tolist() == [7, 9]


def test_absent_data_is_reported_not_crashed(tmp_path, capsys):
    assert identity.main(["--quick", "--data", str(tmp_path)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last["skipped"]) >= {"TUD-Campus", "ADL-Rundle-6"}
    assert last["goals"] == {}


def test_help_runs_from_a_fresh_shell(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "identity.py"), "--help"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--quick" in out.stdout and "--seeds" in out.stdout


def test_the_default_detection_mode_is_read_from_the_product():
    from pipeline.ingest.config import InferenceConfig

    for size in ((1920, 1080), (640, 480), (480, 640)):
        assert identity.detection_tiling(*size) == InferenceConfig().tiling_for(*size)
    assert identity.detection_tiling(1920, 1080).tiles_per_frame == 3


@pytest.mark.parametrize("bad", ["a", "1,x", "60", "-1", ","])
def test_a_bad_seed_list_is_refused_before_any_work(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        identity.main(["--seed-list", bad, "--data", "/nonexistent"])
    assert exc.value.code == 2
    assert "--seed-list" in capsys.readouterr().err
