"""Settings sweeps on the identity benchmark: panoray variants on the same detections.

:mod:`benchmarks.identity` measures panoray's defaults. To choose a setting, this runs
several variants of panoray's configuration (tracker, smoother and the analytics' track
joining) on the *same* simulated detections, beside the peers (run once), and prints per
variant the HOTA margins over the best peer and the static sequences' analytics goals,
for the static-camera sequences (:data:`benchmarks.identity_report.STATIC`) and the
moving-camera ones apart. The noise models are fitted as ``identity.py --quick`` fits
them, and each sequence is simulated in the product's default detection mode for its
frame size (today tiled), as ``identity.py`` does; ``--cache`` keeps the fitted models and
the simulated detections on disk for the next run (same seeds, same code: delete the file
after changing the simulator).

Usage:
    python benchmarks/identity_sweep.py --seed-list 1,2,3 \\
        --variant 'lb2:tracker.lost_buffer_s=2' \\
        --variant 'gap4:tracker.lost_buffer_s=3,smoothing.lookahead_s=4,smoothing.max_gap_s=4'

A variant is ``name:key=value,...``; keys are ``tracker.<TrackerConfig field>``,
``smoothing.<SmoothingConfig field>`` or ``continuity.<ContinuityConfig field>`` (the
analytics' joining of broken tracks; the ground truth keeps its own). The defaults run as
``base``. Prints tables to stderr and one JSON line per variant to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import script_logging  # noqa: E402
from benchmarks.contenders import available_peers, panoray_variant  # noqa: E402
from benchmarks.detsim import clip_visibility, prepare, simulate  # noqa: E402
from benchmarks.identity import (  # noqa: E402
    LONG,
    QUICK_MOSAIC_EVERY,
    detection_tiling,
    secondary_tiling,
    variants,
)
from benchmarks.identity_calibration import collect_tud, fit_model  # noqa: E402
from benchmarks.identity_report import STATIC, analytics_goals, margins  # noqa: E402
from benchmarks.identity_scoring import aggregate, load_clip, run_all  # noqa: E402
from benchmarks.parallel import run_tasks  # noqa: E402
from benchmarks.detsim_tud import QUICK_LAYOUTS, TILED_LAYOUTS  # noqa: E402
from benchmarks.scene_analytics import place_scene, run_analytics, truth_frames  # noqa: E402
from benchmarks.scenes import analytics_config  # noqa: E402

log = logging.getLogger("benchmarks.identity_sweep")


def parse_variant(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``name:tracker.x=1,smoothing.y=2`` -> (name, {"tracker": {"x": 1.0}, ...})."""
    name, _, body = text.partition(":")
    parts: dict[str, dict[str, Any]] = {"tracker": {}, "smoothing": {}, "continuity": {}}
    for item in filter(None, (x.strip() for x in body.split(","))):
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        if section not in parts or not field:
            raise ValueError(f"variant {name!r}: unknown key {key!r}")
        parts[section][field] = json.loads(value)
    return name, parts


def fitted_models(data: Path) -> dict[str, Any]:
    """The noise models of both detection modes, fitted as ``identity.py --quick`` fits
    them: "full_frame" and "tiled" (the product's default tiling, 2 x 1 plus the full
    frame)."""
    from models.config import ModelConfig
    from models.detector import OnnxDetector

    detector = OnnxDetector(ModelConfig())
    spec = detector.input_spec
    # Every long sequence is landscape: the default tiling of a landscape frame (or, if
    # the default were the whole frame, the tiling identity.py reports beside it).
    tiling = detection_tiling(1920, 1080) or secondary_tiling()
    tud = collect_tud(detector, data / "mot15", QUICK_LAYOUTS, TILED_LAYOUTS, tiling,
                      QUICK_MOSAIC_EVERY)
    model_input = (spec.width, spec.height, spec.resize)
    modes = (("full_frame", tud.full), ("tiled", tud.tiled))
    fits = run_tasks([lambda runs=runs, mode=mode: fit_model(  # side by side
        runs, detector.config.threshold, model_input, f"sweep: quick fit, {mode}")
        for mode, runs in modes])
    return {mode: fit for (mode, _), fit in zip(modes, fits, strict=True)}


def summarise(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Margins (offline, live) over static and moving sequences, worst and mean, and the
    static analytics goals (worst, mean)."""
    out: dict[str, Any] = {}
    for who, key in (("panoray_offline", "offline"), ("panoray_live", "live")):
        rows = margins(reports, who)
        for group, keep in (("static", True), ("moving", False)):
            sel = [m for m in rows if (m["sequence"] in STATIC) == keep]
            w = min(sel, key=lambda m: m["margin"])
            out[f"{key}.{group}"] = {
                "worst": w["margin"], "where": f"{w['sequence']}/{w['variant']}",
                "mean": round(float(np.mean([m["margin"] for m in sel])), 2)}
        out[f"{key}.per_variant"] = {f"{m['sequence']}/{m['variant']}": m["margin"]
                                     for m in rows}
    for who in ("panoray_offline", "panoray_live"):
        out[f"analytics.{who}"] = {k: {"worst": v["value"], "where": v["worst"],
                                       "mean": v["mean"]}
                                   for k, v in analytics_goals(reports, who).items()}
    return out


def print_summary(results: dict[str, dict[str, Any]]) -> None:
    err = sys.stderr
    print("\nmargin over the best peer, worst (mean): offline static | offline moving | "
          "live static | live moving", file=err)
    for name, s in results.items():
        cells = " | ".join(f"{s[k]['worst']:+5.1f} ({s[k]['mean']:+5.2f})"
                           for k in ("offline.static", "offline.moving", "live.static",
                                     "live.moving"))
        print(f"  {name:<14} {cells}", file=err)
    for who in ("panoray_offline", "panoray_live"):
        print(f"\nstatic analytics ({who}), worst (mean): ids/truth | visits | dwell | "
              "line direction", file=err)
        for name, s in results.items():
            a = s[f"analytics.{who}"]
            cells = " | ".join(f"{a[k]['worst']:.3f} ({a[k]['mean']:.3f})"
                               for k in ("static.ids_ratio", "static.zone_visits",
                                         "static.zone_dwell", "static.line_direction"))
            print(f"  {name:<14} {cells}", file=err)
    keys = list(next(iter(results.values()))["offline.per_variant"])
    print("\nper sequence margin, offline / live", file=err)
    print(f"  {'':<24}" + "".join(f"{n[:13]:>14}" for n in results), file=err)
    for k in keys:
        cells = "".join(f"{s['offline.per_variant'][k]:>+6.1f}/{s['live.per_variant'][k]:<+6.1f} "
                        for s in results.values())
        print(f"  {k + (' *' if k.split('/')[0] in STATIC else ''):<24}{cells}", file=err)
    print("  (* static camera)", file=err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-list", default="1,2,3",
                        help="seeds (development 1,2,3; held out 0,4)")
    parser.add_argument("--variant", action="append", default=[],
                        help="name:section.field=value,... (repeatable)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="pickle of the fitted model and simulated detections")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    seeds = sorted({int(x) for x in args.seed_list.split(",") if x.strip()})
    chosen = dict([("base", {"tracker": {}, "smoothing": {}, "continuity": {}})]
                  + [parse_variant(v) for v in args.variant])
    script_logging()
    cache: dict[Any, Any] = {}
    if args.cache is not None and args.cache.is_file():
        cache = pickle.loads(args.cache.read_bytes())
    if "models" not in cache:
        cache["models"] = fitted_models(args.data)
    peers = available_peers()
    runners = {name: panoray_variant(v["tracker"], v["smoothing"])
               for name, v in chosen.items()}
    reports: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    t0 = time.perf_counter()
    for k, seq in enumerate(LONG):
        clip = load_clip(args.data / "mot15-gt" / seq)
        scene = place_scene(clip.truth, clip.times_s, clip.width, clip.height)
        base_cfg, truth_cfg = analytics_config(scene), analytics_config(scene, truth=True)
        # The product's default detection mode for this frame size, as identity.py does.
        tiling = detection_tiling(clip.width, clip.height)
        mode = "full_frame" if tiling is None else "tiled"
        model = cache["models"][mode]
        view = model.view(clip.width, clip.height, tiling)
        reps = {name: {"sequence": seq, "truth_ids": int(len(np.unique(clip.truth.ids))),
                       "variants": {}} for name in chosen}
        for vname, c in variants(clip):
            truth = run_analytics(truth_frames(c.truth, c.times_s), truth_cfg, c.width,
                                  c.height, c.fps)
            feats = None
            per_seed: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
            for s in seeds:
                key = ("dets", seq, vname, s, mode)
                if key not in cache:
                    feats = feats if feats is not None else prepare(c, view, clip_visibility(c))
                    cache[key] = simulate(model, feats, 100 * k + s)
                dets = cache[key]
                pkey = ("peers", seq, vname, s, mode)
                if pkey not in cache:
                    cache[pkey] = run_all(peers, dets, c, (base_cfg, truth))
                for name, v in chosen.items():
                    cfg = base_cfg
                    if v["continuity"]:
                        cfg = base_cfg.model_copy(update={"continuity": base_cfg.continuity
                                                          .model_copy(update=v["continuity"])})
                    ours = run_all(runners[name], dets, c, (cfg, truth))
                    per_seed[name].append(cache[pkey] | ours)
            for name in chosen:
                reps[name]["variants"][vname] = {"trackers": aggregate(per_seed[name])}
        for name in chosen:
            reports[name].append(reps[name])
        log.info("%s done (%.0f s)", seq, time.perf_counter() - t0)
        if args.cache is not None:
            args.cache.write_bytes(pickle.dumps(cache))
    results = {name: summarise(r) for name, r in reports.items()}
    print_summary(results)
    for name, s in results.items():
        print(json.dumps({"variant": name, "settings": chosen[name], "seeds": seeds} | s),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
