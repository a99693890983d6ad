"""Fitting the time structure of the detection noise model's latents.

:func:`fit_binary_latent` finds the timescales (:data:`~benchmarks.detsim_model.Timescales`)
of a latent normal whose threshold crossings are an event (a miss, an extra box, a fused
pair): the shares and time constants on a grid whose simulated conditional event rates at
lags of :data:`LAGS` frames come closest to the observed ones, given each row's fitted
event probability, and (``values``) whose correlations where the latent is seen (the
detected people's scores) come closest too. :mod:`benchmarks.detsim_fit` uses it. No Ray,
no model, no files.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from benchmarks.detsim_model import LatentLayout, Timescales
from benchmarks.detsim_views import FloatArray, IntArray

LAGS = (1, 2, 4, 8, 16, 32)
"""Lags (frames) of the conditional event rates the latent time constants are fitted to."""
GRID_TAU_S = tuple(float(t) for t in np.round(np.geomspace(0.04, 20.0, 16), 3))
"""Time constants (s) tried for a one-timescale latent."""
GRID_TAU_FAST_S = (0.04, 0.08, 0.16, 0.32, 0.64)
GRID_TAU_SLOW_S = (1.5, 4.0, 10.0, 30.0)
"""Time constants (s) tried for the fast and the slow part of the score latent."""
CORR_PAIRS_PER_CELL = 5000
"""Pairs a lag cell's latent correlation is read on at most (a fixed sample: the fit
evaluates it thousands of times; 5000 pairs read a correlation to about +-0.015)."""
MIN_CORR_PAIRS = 20
"""Least pairs of seen rows a lag's latent correlation needs to enter the fit."""
FIT_SEED = 12345
"""Seed of the fit's own simulations (common random numbers across the grid)."""


class Lags:
    """Row pairs of one group ``lag`` frames apart, for each lag in :data:`LAGS`
    (``pairs``), and per stratum of the earlier row (``cells``: (stratum, lag, a, b) in
    stratum-major order; ``strata`` (n,) 0..s-1, None: one)."""

    def __init__(self, group: IntArray, frame: IntArray, usable: npt.NDArray[np.bool_],
                 strata: IntArray | None = None) -> None:
        span = int(frame.max(initial=0)) + max(LAGS) + 2
        key = group.astype(np.int64) * span + frame
        order = np.argsort(key)
        sk = key[order]
        self.pairs = {}
        for lag in LAGS:
            pos = np.searchsorted(sk, key + lag)
            pos = np.minimum(pos, len(sk) - 1)
            found = (sk[pos] == key + lag) if len(sk) else np.zeros(0, np.bool_)
            a = np.flatnonzero(found & usable)
            b = order[pos[a]]
            ok = usable[b]
            self.pairs[lag] = (a[ok], b[ok])
        st = np.zeros(len(group), np.intp) if strata is None else strata
        self.cells = [(s, lag, a[m], b[m]) for s in range(int(st.max(initial=0)) + 1)
                      for lag in LAGS for a, b in [self.pairs[lag]]
                      for m in [st[a] == s]]
        # Correlations are read on at most CORR_PAIRS_PER_CELL pairs a cell (a fixed
        # sample), each standing for ``corr_scale`` pairs of the cell.
        rng = np.random.default_rng(FIT_SEED)
        picks = [np.sort(rng.choice(len(c[2]), CORR_PAIRS_PER_CELL, replace=False))
                 if len(c[2]) > CORR_PAIRS_PER_CELL else np.arange(len(c[2]))
                 for c in self.cells]
        self.corr_sizes = np.array([len(p) for p in picks])
        self.corr_scale = np.array([len(c[2]) / max(len(p), 1)
                                    for c, p in zip(self.cells, picks, strict=True)])
        self.cell_a = np.concatenate([c[2][p] for c, p in zip(self.cells, picks, strict=True)]
                                     ).astype(np.intp)
        self.cell_b = np.concatenate([c[3][p] for c, p in zip(self.cells, picks, strict=True)]
                                     ).astype(np.intp)


def conditional_rates(event: npt.NDArray[np.bool_], lags: Lags) -> FloatArray:
    """(len(lags.cells), 2): P(event at t + lag | event at t) and P(event at t + lag |
    none), per stratum of the row at t and lag (:class:`Lags`)."""
    out = np.full((len(lags.cells), 2), np.nan)
    for k, (_, _, a, b) in enumerate(lags.cells):
        ea, eb = event[a], event[b]
        n_event = int(ea.sum())
        if n_event:
            out[k, 0] = np.count_nonzero(eb & ea) / n_event
        if n_event < len(ea):
            out[k, 1] = np.count_nonzero(eb & ~ea) / (len(ea) - n_event)
    return out


def share_grid(parts: int) -> list[tuple[float, ...]]:
    """Shares of ``parts`` slow components on a 0.1 grid, summing to at most 1."""
    steps = np.round(np.linspace(0.0, 1.0, 11), 2)
    if parts == 1:
        return [(float(a),) for a in steps]
    return [(float(a), float(b)) for a in steps for b in steps if a + b <= 1.0 + 1e-9]


def conditional_corr(values: FloatArray, seen: npt.NDArray[np.bool_], lags: Lags
                      ) -> tuple[FloatArray, FloatArray]:
    """(len(lags.cells),) correlation of ``values`` at t and t + lag over the pairs where
    both rows are ``seen`` (of at most :data:`CORR_PAIRS_PER_CELL` pairs a cell), and
    about how many such pairs the whole cell has (NaN correlation under
    :data:`MIN_CORR_PAIRS` read)."""
    sizes = lags.corr_sizes
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    both = seen[lags.cell_a] & seen[lags.cell_b]
    va = np.where(both, values[lags.cell_a], 0.0)
    vb = np.where(both, values[lags.cell_b], 0.0)

    def sums(x: FloatArray) -> FloatArray:  # per cell (contiguous runs), 0 for an empty one
        if not len(x):
            return np.zeros(len(sizes))
        return np.where(sizes > 0, np.add.reduceat(x, np.minimum(starts, len(x) - 1)), 0.0)

    n = sums(both.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = sums(va) / n, sums(vb) / n
        cov = sums(va * vb) / n - ma * mb
        var_a = sums(va * va) / n - ma * ma
        var_b = sums(vb * vb) / n - mb * mb
        corr = cov / np.sqrt(var_a * var_b)
    corr[(n < MIN_CORR_PAIRS) | ~(var_a > 1e-12) | ~(var_b > 1e-12)] = np.nan
    return corr, n * lags.corr_scale


def fit_binary_latent(groups: IntArray, times: FloatArray, frames: IntArray,
                       p_event: FloatArray, event: npt.NDArray[np.bool_],
                       usable: npt.NDArray[np.bool_], parts: int = 1,
                       clock: FloatArray | None = None, strata: IntArray | None = None,
                       values: FloatArray | None = None, bound: float = np.inf
                       ) -> tuple[Timescales, dict[str, Any]]:
    """The latent timescales whose simulated conditional event rates match the observed.

    ``parts`` slow components (1: one time constant from :data:`GRID_TAU_S`; 2: a fast one
    from :data:`GRID_TAU_FAST_S` and a slow one from :data:`GRID_TAU_SLOW_S`), grid search
    with common random numbers. ``clock``: the latent's clock per row (default ``times``,
    see :func:`~benchmarks.detsim_model.motion_clock`); ``strata``: rows whose rates are
    matched separately (:func:`conditional_rates`). ``values``: the latent itself where
    it is seen (rows without the event: for misses, the detected people's standardised
    scores; NaN elsewhere): its correlations at each lag (:func:`conditional_corr`) are
    matched as well, each weighted by its pairs as the rates are, so the timescales
    follow how the scores run in time, not only when boxes are missed. ``bound``: a loss
    already reached elsewhere (a candidate whose rates alone miss it is not read further;
    the result is the same, found faster; infinite ``loss`` when nothing beats it). The
    report's ``loss`` is the weighted squared distance of the best fit.
    """
    if event[usable].sum() < 5 or (~event[usable]).sum() < 5:
        return (), {"note": "too few events to fit; independent frames assumed", "loss": 0.0}
    lags = Lags(groups, frames, usable, strata)
    target = conditional_rates(event, lags)
    weights = np.array([[float(len(a))] for _, _, a, _ in lags.cells])
    seen = ~event & usable if values is not None else None
    if values is not None:
        corr_target, corr_w = conditional_corr(values, seen & np.isfinite(values), lags)
    layout = LatentLayout(groups, times if clock is None else clock)
    rng = np.random.default_rng(FIT_SEED)
    taus = [GRID_TAU_S] if parts == 1 else [GRID_TAU_FAST_S, GRID_TAU_SLOW_S]
    reps = []
    for _ in range(3):
        white = rng.standard_normal((layout.n, 1))
        paths = [{tau: layout.ou(tau, rng.standard_normal((layout.n, 1)))[:, 0] for tau in ts}
                 for ts in taus]
        reps.append((white[:, 0], paths))
    cut = ndtri(1.0 - np.clip(p_event, 1e-9, 1 - 1e-9))

    def paths_of(shares: tuple[float, ...], chosen: tuple[float, ...]) -> list[FloatArray]:
        out = []
        for white, paths in reps:
            z = math.sqrt(max(1.0 - sum(shares), 0.0)) * white
            for k, (a, tau) in enumerate(zip(shares, chosen, strict=True)):
                if a:
                    z = z + math.sqrt(a) * paths[k][tau]
            out.append(z)
        return out

    def mean(parts_: list[FloatArray]) -> FloatArray:
        with warnings.catch_warnings():  # a lag without pairs stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(parts_, axis=0)

    def rates_of(zs: list[FloatArray]) -> FloatArray:
        return mean([conditional_rates(z > cut, lags) for z in zs])

    def corr_of(zs: list[FloatArray]) -> FloatArray:
        return mean([conditional_corr(z, (z <= cut) & usable, lags)[0] for z in zs])

    def loss_of(shares: tuple[float, ...], chosen: tuple[float, ...], bound: float) -> float:
        """The distance to the observed; the correlations' part is read only while the
        rates' part alone stays under ``bound`` (it only adds)."""
        zs = paths_of(shares, chosen)
        loss = float(np.nansum(weights * (rates_of(zs) - target) ** 2))
        if values is not None and loss < bound:
            loss += float(np.nansum(corr_w * (corr_of(zs) - corr_target) ** 2))
        return loss

    combos = [(t,) for t in taus[0]] if parts == 1 else [
        (a, b) for a in taus[0] for b in taus[1]]
    best: tuple[float, tuple[float, ...], tuple[float, ...]] = (
        np.inf, (0.0,) * parts, combos[0])
    for shares in share_grid(parts):
        for chosen in (combos if any(shares) else combos[:1]):
            loss = loss_of(shares, chosen, min(best[0], bound))
            if loss < best[0]:
                best = (loss, shares, chosen)
    timescales = tuple((a, t) for a, t in zip(best[1], best[2], strict=True) if a)
    best_zs = paths_of(best[1], best[2])
    fitted = rates_of(best_zs)
    dt = float(np.median(np.diff(np.unique(times)))) if len(times) > 1 else 1.0
    # Nothing under the bound: what was kept may hold only the rates' part of its loss.
    loss = round(best[0], 4) if best[0] < bound else np.inf
    report = {"lags_s": [round(lag * dt, 3) for lag in LAGS], "loss": loss,
              "observed_p_event_after_event": np.round(target[:, 0], 3).tolist(),
              "fitted_p_event_after_event": np.round(fitted[:, 0], 3).tolist(),
              "observed_p_event_after_none": np.round(target[:, 1], 3).tolist(),
              "fitted_p_event_after_none": np.round(fitted[:, 1], 3).tolist()}
    if values is not None:
        report["observed_latent_corr_where_seen"] = np.round(corr_target, 3).tolist()
        report["fitted_latent_corr_where_seen"] = np.round(corr_of(best_zs), 3).tolist()
    return timescales, report
