"""The score latent's timescales are fitted to how detected people's scores run in time as
well as to when they are missed (:func:`benchmarks.detsim_latent_fit.fit_binary_latent`'s
``values``). Synthetic inputs only (no Ray, no model, no ../shared data)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.detsim_latent_fit import (
    LAGS,
    MIN_CORR_PAIRS,
    Lags,
    conditional_corr,
    fit_binary_latent,
)
from benchmarks.detsim_model import latent


def people(n_people: int, frames: int, fps: float = 25.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(groups, frames, times_s) of ``n_people`` seen in every one of ``frames`` frames."""
    g = np.repeat(np.arange(n_people), frames)
    f = np.tile(np.arange(frames), n_people)
    return g, f, f / fps


def test_conditional_corr_is_the_correlation_of_the_seen_pairs_at_each_lag():
    rng = np.random.default_rng(0)
    g, f, _ = people(5, 80)
    v = rng.standard_normal(len(g)).cumsum()
    seen = rng.random(len(g)) < 0.8
    lags = Lags(g, f, np.ones(len(g), np.bool_))
    corr, n = conditional_corr(v, seen, lags)
    assert len(corr) == len(LAGS)
    for k, (_, _, a, b) in enumerate(lags.cells):
        both = seen[a] & seen[b]
        assert n[k] == both.sum()
        if both.sum() >= MIN_CORR_PAIRS:
            assert corr[k] == pytest.approx(np.corrcoef(v[a[both]], v[b[both]])[0, 1])
        else:
            assert np.isnan(corr[k])
    assert np.isnan(corr[-1]) == (n[-1] < MIN_CORR_PAIRS)


@pytest.mark.parametrize("truth", [((1.0, 4.0),), ((0.3, 0.08),)])
def test_fit_follows_how_the_seen_latent_runs_in_time(truth):
    """Scores that drift slowly (one 4 s part) and scores that jump from frame to frame
    (mostly white) with the same miss rate: the fitted latent's correlations where it is
    seen match the observed ones at every lag, and only the slow truth gets a slow part."""
    g, f, t = people(30, 100)
    rng = np.random.default_rng(1)
    z = latent(g, t, truth, rng)[:, 0]
    p_event = np.full(len(g), 0.15)
    event = z > np.quantile(z, 0.85)
    values = np.where(event, np.nan, z)
    ts, rep = fit_binary_latent(g, t, f, p_event, event, np.ones(len(g), np.bool_),
                                 parts=2, values=values)
    observed = np.array(rep["observed_latent_corr_where_seen"], np.float64)
    fitted = np.array(rep["fitted_latent_corr_where_seen"], np.float64)
    ok = np.isfinite(observed)
    assert ok.sum() >= 4
    assert np.abs(fitted[ok] - observed[ok]).max() < 0.12, (observed, fitted)
    slow = sum(a for a, tau in ts if tau >= 1.0)
    if truth[0][1] >= 1.0:
        assert slow >= 0.7, ts
    else:
        assert slow <= 0.3, ts


def test_temporal_summary_reads_how_scores_run_in_time():
    """One person found in every frame, the score alternating 0.6 / 0.8: each step is
    logit(0.8) - logit(0.6) and consecutive scores are perfectly anti-correlated."""
    import dataclasses

    from benchmarks.detsim import prepare, simulate
    from benchmarks.detsim_model import BackgroundModel, ScoreModel
    from benchmarks.detsim_obs import observe
    from benchmarks.detsim_stats import temporal_summary
    from tests.unit.test_detsim_calibration import VIEW, walkers
    from tests.unit.test_identity_benchmark import THRESHOLD, known_model

    clip = walkers(60, 300.0, people=1)
    feats = prepare(clip, VIEW)
    model = known_model(nms_iou=1.0, score=ScoreModel((8.0,) + (0.0,) * 9, 1.0, ()),
                        extra=dataclasses.replace(known_model().extra, pool=np.zeros((0, 5))),
                        background=BackgroundModel(0.0, 1.0, np.zeros((0, 2)), np.zeros(0)))
    dets = [dataclasses.replace(d, scores=np.full(len(d.scores), 0.6 if f % 2 else 0.8,
                                                  np.float32))
            for f, d in enumerate(simulate(model, feats, 0))]
    stats = temporal_summary(observe(clip, dets, VIEW, THRESHOLD, scene=feats))
    assert stats["score_step_median"] == pytest.approx(np.log(4.0) - np.log(1.5), abs=1e-3)
    assert stats["score_lag1_corr"] == pytest.approx(-1.0, abs=1e-3)


def test_a_bound_from_elsewhere_finds_the_same_timescales():
    """Candidates whose miss rates alone already miss the bound are not read further: with
    the best loss as the bound the fit returns the same timescales and loss; with a bound
    nothing reaches, none is chosen (infinite loss)."""
    g, f, t = people(20, 100)
    z = latent(g, t, ((0.6, 2.0),), np.random.default_rng(2))[:, 0]
    event = z > np.quantile(z, 0.8)
    args = (g, t, f, np.full(len(g), 0.2), event, np.ones(len(g), np.bool_))
    values = np.where(event, np.nan, z)
    ts, rep = fit_binary_latent(*args, parts=2, values=values)
    again, rep2 = fit_binary_latent(*args, parts=2, values=values, bound=rep["loss"] + 1e-6)
    assert again == ts and rep2["loss"] == pytest.approx(rep["loss"], abs=1e-4)
    _, none = fit_binary_latent(*args, parts=2, values=values, bound=0.0)
    assert none["loss"] == np.inf
