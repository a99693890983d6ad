"""Detector throughput: bare ONNX Runtime vs the Serve DeploymentHandle vs HTTP.

Measured side by side in one run on the same machine:
  * bare ONNX Runtime on pre-resized frames at batch 1, 4 and 8 (images/s);
  * the Detector deployment through a DeploymentHandle at concurrency 1 and 8;
  * the HTTP endpoint (JPEG upload, ``?tiling=off``: one model run per image, as the
    others; the endpoint's default tiles, three runs) at concurrency 1 and 8;
and the ratio handle(concurrency 8) / best bare. Bare and handle measurements alternate over
several rounds (the machine may be shared); the reported ratio is the median of the rounds'
ratios and the tables are those of the median round. Prints one JSON object as its last
line.

    python benchmarks/detector.py [--quick] [--seconds S] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.app.ray_env import apply_ray_env  # noqa: E402

apply_ray_env()  # this benchmark starts Ray: panoray's Ray and Serve settings first

import numpy as np  # noqa: E402

from benchmarks.common import (  # noqa: E402
    emit,
    goal,
    machine,
    per_core_sessions,
    percentiles_ms,
    rate,
)
from models.config import ModelConfig, ServingConfig  # noqa: E402
from models.detector import OnnxDetector  # noqa: E402
from models.preprocess import prepare_frame  # noqa: E402
from models.requests import DetectRequest  # noqa: E402
from pipeline.site_config import HttpConfig  # noqa: E402
from pipeline.types import FrameMeta  # noqa: E402

HANDLE_GOAL = 0.8  # handle at concurrency 8 vs best bare throughput


def real_frames() -> list[np.ndarray]:
    """Real photographs (RGB) that ship with scikit-image, two with people."""
    from skimage import data

    grey = np.repeat(data.camera()[:, :, None], 3, axis=2)
    return [data.astronaut(), grey, data.coffee(), data.chelsea()]


def bare(det: OnnxDetector, smalls: list[np.ndarray], seconds: float) -> dict[str, float]:
    out = {}
    for bs in (1, 4, 8):
        frames = [smalls[i % len(smalls)] for i in range(bs)]
        sizes = [(512, 512)] * bs
        out[str(bs)] = round(rate(lambda: len(det.detect(frames, sizes)), seconds), 2)
    return out


async def _handle_load(handle, smalls, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller(cid: int) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            meta = FrameMeta(f"cam{cid}", i, i / 25, time.time(), 512, 512)
            t0 = time.perf_counter()
            await handle.detect.remote(DetectRequest(smalls[(cid + i) % len(smalls)], meta))
            latencies.append(time.perf_counter() - t0)
            i += 1

    await asyncio.gather(*(caller(c) for c in range(concurrency)))  # warm-up pass
    latencies.clear()
    stop_at = time.perf_counter() + seconds
    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(concurrency)))
    return {"images_per_s": round(len(latencies) / (time.perf_counter() - start), 2),
            **percentiles_ms(latencies)}


def _http_load(url: str, jpegs: list[bytes], concurrency: int, seconds: float) -> dict[str, float]:
    import requests

    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def caller(cid: int) -> None:
        session = requests.Session()
        i = 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            r = session.post(url, data=jpegs[(cid + i) % len(jpegs)],
                             headers={"content-type": "image/jpeg"}, timeout=60)
            r.raise_for_status()
            with lock:
                latencies.append(time.perf_counter() - t0)
            i += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(c,)) for c in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"images_per_s": round(len(latencies) / (time.perf_counter() - start), 2),
            **percentiles_ms(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under 3 minutes)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved bare/handle rounds; the ratio is their median")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-wait-s", type=float,
                        default=ServingConfig.model_fields["batch_wait_timeout_s"].default)
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    rounds = args.rounds or (2 if args.quick else 3)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    import cv2
    import ray
    from ray import serve

    from pipeline.app.serving import start_serving

    images = real_frames()
    det = OnnxDetector(ModelConfig())
    smalls = [prepare_frame(im, det.input_spec, "RGB")[0] for im in images]
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1].tobytes()
             for im in images]
    provider = det.provider

    # the stricter ceiling: one single-threaded session per core, batch 8, side by side
    per_core_rate = per_core_sessions(
        [smalls[i % len(smalls)] for i in range(8)], [(512, 512)] * 8, seconds).images_per_s

    ray.init(num_cpus=4, include_dashboard=False, logging_level="ERROR")
    port = 8123
    serving = ServingConfig(max_batch_size=args.max_batch_size,
                            batch_wait_timeout_s=args.batch_wait_s, num_cpus=1)
    handle = start_serving(ModelConfig(), serving, HttpConfig(port=port), access_logs=False)
    # Bare and handle measurements alternate, so that load from elsewhere on a shared
    # machine hits both alike; each round's ratio pairs neighbouring measurements.
    per_round: list[dict] = []
    try:
        for _ in range(rounds):
            bare_rates = bare(det, smalls, seconds)
            handle_results = {str(c): asyncio.run(_handle_load(handle, smalls, c, seconds))
                              for c in (1, 8)}
            per_round.append({"bare": bare_rates, "handle": handle_results,
                              "ratio": handle_results["8"]["images_per_s"]
                              / max(bare_rates.values())})
        stats = handle.stats.remote().result()
        url = f"http://127.0.0.1:{port}/v1/detect?tiling=off"
        http_results = {str(c): _http_load(url, jpegs, c, seconds) for c in (1, 8)}
    finally:
        serve.shutdown()
        ray.shutdown()
    best = max(per_round, key=lambda r: r["ratio"]) if rounds == 1 else sorted(
        per_round, key=lambda r: r["ratio"])[len(per_round) // 2]  # the median round
    ratio = float(np.median([r["ratio"] for r in per_round]))
    emit({
        "benchmark": "detector",
        "machine": machine(),
        "provider": provider,
        "seconds_per_measurement": seconds,
        "rounds": rounds,
        "bare_images_per_s_by_batch": best["bare"],
        "handle": best["handle"],
        "http": http_results,
        "detector_stats": {k: stats[k] for k in ("mean_batch_size", "mean_queue_ms",
                                                 "mean_inference_ms", "batch_sizes")},
        "ratio_handle_c8_to_best_bare_by_round": [round(r["ratio"], 3) for r in per_round],
        "ratio_handle_c8_to_best_bare": round(ratio, 3),
        "bare_per_core_sessions_images_per_s": round(per_core_rate, 2),
        "ratio_handle_c8_to_per_core_sessions": round(
            best["handle"]["8"]["images_per_s"] / per_core_rate, 3),
        "goals": {"handle_c8_vs_best_bare": goal(ratio, HANDLE_GOAL)},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
