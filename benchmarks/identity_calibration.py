"""The identity benchmark's detection model: fitted on TUD, checked against real detections.

- :func:`collect_tud`: the bundled detector on the TUD videos and mosaics of them;
- :func:`fit_model`, :func:`fit_check`: the noise model and its statistics, real beside
  simulated;
- :func:`conditions`, :func:`calibrate`: every tracker's HOTA on real and on simulated
  detections of the same TUD clips (the simulator must not flatter anyone).
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import read_video
from benchmarks.contenders import PANORAY, Runner
from benchmarks.detsim import prepare, simulate
from benchmarks.detsim_fit import fit
from benchmarks.detsim_model import NoiseModel
from benchmarks.detsim_obs import concat, observe, summary
from benchmarks.detsim_stats import temporal_summary
from benchmarks.detsim_tud import LAYOUTS, TudDetections, detect_layout
from benchmarks.detsim_views import Clip
from benchmarks.identity_scoring import load_clip, run_all
from benchmarks.parallel import run_tasks
from pipeline.types import Detections

log = logging.getLogger("benchmarks.identity")

TUD = ("TUD-Campus", "TUD-Stadtmitte")
TUD_SUBSAMPLE = 3
"""Calibration also at every 3rd TUD frame (8.3 fps), what the long sequences get."""
CALIBRATION_SEEDS = {"quick": 3, "full": 4}
CALIBRATION_LAYOUTS = ("1x1", "2x2", "2x3", "1x3", "3x3")
"""Mosaics the full run also calibrates on (the frames themselves at 25 and 8.3 fps)."""
CALIBRATION_COPIES = 2
"""Real detections of at most this many cells of a mosaic are tracked (the copies differ
little)."""


@dataclass
class TudSet:
    """Real detections of the TUD sequences, per (sequence, layout name)."""

    full: dict[tuple[str, str], TudDetections]
    tiled: dict[tuple[str, str], TudDetections]
    seconds: float


def collect_tud(detector: Any, root: Path, layouts: Sequence[str], tiled: Sequence[str],
                tiling: Any, mosaic_every: int = 1) -> TudSet:
    """The detector on every TUD sequence through each layout, full frame and tiled (the
    frames themselves every frame, mosaics every ``mosaic_every``-th)."""
    by_name = {lay.name: lay for lay in LAYOUTS}
    full, til = {}, {}
    t0 = time.perf_counter()
    for seq in TUD:
        clip = load_clip(root / seq)
        images = read_video(root / seq / f"{seq}.mp4", clip.num_frames)
        images += [np.zeros((clip.height, clip.width, 3), np.uint8)] * (
            clip.num_frames - len(images))
        for name in layouts:
            full[(seq, name)] = detect_layout(detector, images, clip, by_name[name],
                                              every=1 if name == "1x1" else mosaic_every)
        for name in tiled:
            til[(seq, name)] = detect_layout(detector, images, clip, by_name[name], tiling,
                                             every=1 if name == "1x1" else mosaic_every)
        log.info("%s: detected %d frames through %d layouts in %.1f s", seq, clip.num_frames,
                 len(layouts) + len(tiled), time.perf_counter() - t0)
    return TudSet(full, til, time.perf_counter() - t0)


def fit_model(runs: dict[tuple[str, str], TudDetections], threshold: float,
              model_input: tuple[int, int, str], source: str,
              sequences: Sequence[str] = TUD) -> NoiseModel:
    obs = concat([r.observations(threshold) for (seq, _), r in runs.items() if seq in sequences])
    return fit(obs, threshold, model_input, source)


def fit_check(model: NoiseModel, runs: dict[tuple[str, str], TudDetections],
              seeds: int) -> dict[str, Any]:
    """The statistics of the real detections and of simulated ones: per layout (sequences
    pooled), and per sequence seen whole (``<sequence>/1x1``), which is where the
    calibration's trackers run."""
    out = {}
    order = [lay.name for lay in LAYOUTS]
    names = sorted({name for _, name in runs}, key=order.index)
    for name in names:
        cells = [(seq, run) for (seq, lay), run in runs.items() if lay == name]
        out[name] = _real_and_simulated(model, [run for _, run in cells], seeds)
        if name == "1x1":
            for seq, run in cells:
                out[f"{seq}/1x1"] = _real_and_simulated(model, [run], seeds)
    return out


def _real_and_simulated(model: NoiseModel, runs: list[TudDetections], seeds: int
                        ) -> dict[str, Any]:
    real, sim = [], []
    for run in runs:
        real.append(run.observations(model.threshold))
        k0 = next(iter(run.views))
        feats = prepare(run.clip, run.views[k0])
        for seed in range(seeds):
            dets = simulate(model, feats, seed)
            sim.append(observe(run.clip, dets, run.views[k0], model.threshold,
                               background=run.layout.filled, scene=feats,
                               frame_dt=run.frame_dt))
    return {who: summary(obs) | temporal_summary(obs)
            for who, obs in (("real", concat(real)), ("simulated", concat(sim)))}


@dataclass(frozen=True)
class Condition:
    """One calibration cell: a TUD sequence seen one way, real detections and the model."""

    name: str
    clip: Clip
    real: list[list[Detections]]
    run: TudDetections
    model: NoiseModel
    step: int = 1


def conditions(tud: TudSet, models: dict[str, NoiseModel], quick: bool,
               loo: dict[str, NoiseModel], own: dict[str, NoiseModel] | None = None
               ) -> list[Condition]:
    """The calibration cells; ``loo``: per sequence a model fitted without it; ``own``: a
    model fitted on that sequence alone (what the model's form can reach at best: a
    residual left there is a missing error mode, not a difference between the clips)."""
    out = []
    for seq in TUD:
        for lay in ["1x1"] if quick else [n for n in CALIBRATION_LAYOUTS if (seq, n) in tud.full]:
            run = tud.full[(seq, lay)]
            steps = (1, TUD_SUBSAMPLE) if lay == "1x1" else (1,)
            for step in steps:
                out.append(_condition(f"{seq}/full_frame/{lay}/every{step}", run,
                                      models["full_frame"], step))
        for (s, lay), run in tud.tiled.items():
            if s == seq and lay == "1x1":
                for step in (1, TUD_SUBSAMPLE):
                    out.append(_condition(f"{seq}/tiled/{lay}/every{step}", run,
                                          models["tiled"], step))
        if seq in loo:
            out.append(_condition(f"{seq}/full_frame/1x1/every1/leave_one_out",
                                  tud.full[(seq, "1x1")], loo[seq], 1))
        if own and seq in own:
            out.append(_condition(f"{seq}/own_fit/full_frame/1x1", tud.full[(seq, "1x1")],
                                  own[seq], 1))
    return out


def _condition(name: str, run: TudDetections, model: NoiseModel, step: int) -> Condition:
    clip = run.clip if step == 1 else run.clip.every(step)
    real = [dets[::step] for dets in list(run.cells.values())[:CALIBRATION_COPIES]]
    return Condition(name, clip, real, run, model, step)


def calibrate(conds: list[Condition], contenders: dict[str, Runner], seeds: int
              ) -> list[dict[str, Any]]:
    """HOTA of every contender on the real and on simulated detections, per condition
    (conditions side by side, one per core)."""
    return run_tasks([lambda c=c: _calibrate_one(c, contenders, seeds) for c in conds])


def _calibrate_one(c: Condition, contenders: dict[str, Runner], seeds: int) -> dict[str, Any]:
    """:func:`calibrate`'s row of one condition."""
    t0 = time.perf_counter()
    real = [run_all(contenders, dets, c.clip) for dets in c.real]
    views = list(c.run.views.values())
    feats = [prepare(c.clip, v) for v in views]
    sims = [run_all(contenders, simulate(c.model, feats[k % len(feats)], 1000 + k), c.clip)
            for k in range(seeds)]
    row: dict[str, Any] = {"condition": c.name, "fps": round(c.clip.fps, 2),
                           "real_copies": len(real), "seeds": seeds, "hota": {}}
    for name in contenders:
        r = [x[name]["HOTA"] for x in real]
        s = [x[name]["HOTA"] for x in sims]
        row["hota"][name] = {"real": round(100 * float(np.mean(r)), 1),
                             "sim": round(100 * float(np.mean(s)), 1),
                             "sim_sd": round(100 * float(np.std(s)), 1),
                             "diff": round(100 * (float(np.mean(s)) - float(np.mean(r))), 1)}
    for who in PANORAY:
        if who not in row["hota"]:
            continue
        peers = {n: v for n, v in row["hota"].items() if n not in PANORAY}
        if peers:
            real_best = max(peers, key=lambda n: peers[n]["real"])
            sim_best = max(peers, key=lambda n: peers[n]["sim"])
            row[f"margin_{who}"] = {
                "real": round(row["hota"][who]["real"] - peers[real_best]["real"], 1),
                "real_best_peer": real_best,
                "sim": round(row["hota"][who]["sim"] - peers[sim_best]["sim"], 1),
                "sim_best_peer": sim_best}
    log.info("calibration %s (%.0f s): %s", c.name, time.perf_counter() - t0,
             {n: (v["real"], v["sim"]) for n, v in row["hota"].items()})
    return row


def residuals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest |simulated - real| HOTA (points) over trackers: in-sample (the model
    fitted on both sequences) per detection mode, leave-one-out (fitted on the other
    sequence) and own fit (on the sequence alone), each with where it is."""
    out: dict[str, Any] = {}
    for label, keep in (
            ("in_sample_full_frame", lambda c: "/full_frame/1x1/" in c
             and "leave_one_out" not in c and "own_fit" not in c),
            ("in_sample_tiled", lambda c: "/tiled/1x1/" in c),
            ("leave_one_out_full_frame", lambda c: "leave_one_out" in c),
            ("own_fit_full_frame", lambda c: "own_fit" in c)):
        diffs = [(abs(v["diff"]), f"{r['condition']}:{n}", v["diff"]) for r in rows
                 if keep(r["condition"]) for n, v in r["hota"].items()]
        if diffs:
            worst = max(diffs)
            out[label] = {"max_abs_diff_points": worst[0], "where": worst[1],
                          "signed": worst[2],
                          "mean_diff_points": round(float(np.mean([d[2] for d in diffs])), 1)}
    return out
