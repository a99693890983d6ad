"""Motion-gated inference: frames/s per core with and without ``skip_static``, and the
analytics of both, on footage with idle stretches.

Footage, built at run time (nothing is written to the repo): each real clip (the demo's
``vtest.mp4``; TUD-Campus and TUD-Stadtmitte from ``../shared/data/mot15`` when present,
read in place) is cut in two and joined by 30-60 s (--quick: 20 s) of its own empty
background (the per-pixel median of the clip; TUD-Stadtmitte's keeps a shopper who
stands at a window through the whole clip, a person standing still), with sensor noise
(Gaussian, sigma 4 grey levels, new each frame) and slow light change (gain +/- 12 %
and offset +/- 8 grey levels over a 40 s cycle), then encoded as H.264:
[part 1][idle][part 2][idle].

Each file runs twice, side by side in one process, as an offline camera (nothing
dropped): gated (``inference: {skip_static: true}``, defaults) and ungated. The code path
is the pipeline's own cores without Ray: ``CameraIngest`` (decode thread, motion gate,
in-order delivery), the bundled ONNX detector behind the same ``ContinuousBatcher`` the
camera actor groups requests with, then ``CameraLane`` (tracker, offline smoother) and
``CameraAnalytics`` with the clip's zones and lines. Ray's transport is left out, so the
saving shown is the detector's and the camera's share; a held frame still costs Ray hops
to the tracker and aggregator in a real run.

Per core = frames / CPU seconds of this process (every thread: decoding, ONNX Runtime,
tracking), not wall time, so other load on the machine does not change it much.

Goals: gated at least 2x the ungated frames per CPU-second; for the people of the clips
(crossings, and visits that began in a clip part), line counts and visits identical and
mean dwell within 2 %. Events that begin in an idle stretch are false by construction
(the background is empty) and are reported apart, for both runs, against that truth: the
ungated detector fires now and then on the noisy background, where a gated camera holds
the detections of its last detected frame.

    python benchmarks/motion_gate.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import emit, goal, machine  # noqa: E402
from models.batcher import ContinuousBatcher  # noqa: E402
from models.config import ModelConfig  # noqa: E402
from models.detector import OnnxDetector  # noqa: E402
from pipeline.analytics.camera import CameraAnalytics  # noqa: E402
from pipeline.analytics.config import AnalyticsConfig  # noqa: E402
from pipeline.ingest.camera import CameraIngest  # noqa: E402
from pipeline.ingest.config import CameraConfig  # noqa: E402
from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig  # noqa: E402
from pipeline.analytics.events import Event  # noqa: E402
from pipeline.types import DetectedFrame, FrameMeta  # noqa: E402

log = logging.getLogger("benchmarks.motion_gate")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mot15"
SPEEDUP_GOAL = 2.0
DWELL_GOAL = 0.02
NOISE_SIGMA = 4.0
LIGHT_GAIN, LIGHT_OFFSET, LIGHT_PERIOD_S = 0.12, 8.0, 40.0
MEDIAN_SAMPLES = 60
QUICK_IDLE_S = (20.0, 20.0)
"""--quick: the two idle stretches of each clip's footage (s)."""

# Zones and lines drawn for each scene (normalised coordinates).
VTEST_GEOMETRY = {
    "zones": [{"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]},
              {"id": "crossing", "points": [[0.68, 0.22], [0.98, 0.22], [0.98, 0.48],
                                            [0.68, 0.48]]}],
    "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
               "left_to_right": "westward", "right_to_left": "eastward"}],
}
TUD_GEOMETRY = {
    "zones": [{"id": "middle", "points": [[0.25, 0.3], [0.75, 0.3], [0.75, 1.0], [0.25, 1.0]]}],
    "lines": [{"id": "centre", "start": [0.5, 0.2], "end": [0.5, 1.0],
               "left_to_right": "east", "right_to_left": "west"}],
}


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    geometry: dict[str, Any]
    max_frames: int | None  # quick: a prefix of a long clip
    idle_s: tuple[float, float]  # the two idle stretches


def clips(quick: bool) -> list[Clip]:
    """The demo clip, and the TUD videos when the shared data is present."""
    out = [Clip("vtest", ROOT / "pipeline" / "demo" / "vtest.mp4", VTEST_GEOMETRY,
                300 if quick else None, QUICK_IDLE_S if quick else (45.0, 60.0))]
    for name in ("TUD-Campus",) if quick else ("TUD-Campus", "TUD-Stadtmitte"):
        path = SHARED / name / f"{name}.mp4"
        if path.exists():
            out.append(Clip(name, path, TUD_GEOMETRY, None,
                            QUICK_IDLE_S if quick else (40.0, 40.0)))
        else:
            log.warning("%s not found; running without it", path)
    return out


def read_clip(clip: Clip) -> tuple[list[np.ndarray], float]:
    """The clip's BGR frames (a prefix in quick mode) and its frame rate."""
    cap = cv2.VideoCapture(str(clip.path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while clip.max_frames is None or len(frames) < clip.max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


def idle_frames(background: np.ndarray, seconds: float, fps: float,
                rng: np.random.Generator, t0: float):
    """Yields the empty background for ``seconds`` with sensor noise and slow light change
    (media time of the footage starts at ``t0``, so the light is continuous)."""
    bank = [rng.normal(0, NOISE_SIGMA, background.shape).astype(np.float32) for _ in range(24)]
    bg = background.astype(np.float32)
    for k in range(round(seconds * fps)):
        phase = 2 * np.pi * (t0 + k / fps) / LIGHT_PERIOD_S
        frame = bg * (1 + LIGHT_GAIN * np.sin(phase)) + LIGHT_OFFSET * np.cos(phase)
        yield np.clip(frame + bank[int(rng.integers(len(bank)))], 0, 255).astype(np.uint8)


def build_footage(clip: Clip, out_dir: Path,
                  rng: np.random.Generator) -> tuple[Path, int, float, list[tuple[float, float]]]:
    """Writes [part 1][idle][part 2][idle] as H.264; returns (path, frames, fps, the media
    time spans (start, end) s of the two clip parts)."""
    import av

    frames, fps = read_clip(clip)
    picks = np.linspace(0, len(frames) - 1, min(MEDIAN_SAMPLES, len(frames))).astype(int)
    background = np.median(np.stack([frames[i] for i in picks]), axis=0).astype(np.uint8)
    half = len(frames) // 2
    path = out_dir / f"{clip.name}-idle.mp4"
    height, width = frames[0].shape[:2]
    count = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}

        def put(bgr: np.ndarray) -> None:
            nonlocal count
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[..., ::-1]), "rgb24")
            for packet in stream.encode(image):
                out.mux(packet)
            count += 1

        spans = []
        for part, idle_s in ((frames[:half], clip.idle_s[0]), (frames[half:], clip.idle_s[1])):
            spans.append((count / fps, (count + len(part)) / fps))
            for frame in part:
                put(frame)
            for frame in idle_frames(background, idle_s, fps, rng, count / fps):
                put(frame)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, count, fps, spans


class InProcessDetector:
    """The bundled model behind the camera actor's request grouping, in this process."""

    def __init__(self) -> None:
        self.model = OnnxDetector(ModelConfig())
        self.spec = self.model.input_spec
        self.calls = 0

    def infer_for(self, max_groups: int):
        """An ``Infer`` for one camera: frames wait for a group like in the actor."""
        async def run(requests: list[tuple[np.ndarray, FrameMeta]]) -> list[DetectedFrame]:
            self.calls += len(requests)
            dets = await asyncio.to_thread(self.model.detect, [f for f, _ in requests],
                                           [(m.width, m.height) for _, m in requests])
            return [DetectedFrame(m, d, 0.0, 0.0, len(requests))
                    for (_, m), d in zip(requests, dets)]

        batcher = ContinuousBatcher(run, max_batch_size=8, batch_wait_timeout_s=0.0,
                                    max_concurrent_batches=max_groups)

        async def infer(frame: np.ndarray, meta: FrameMeta) -> DetectedFrame:
            return await batcher.submit((frame, meta))
        return infer


def run_camera(clip: Clip, path: Path, detector: InProcessDetector, gated: bool,
               spans: list[tuple[float, float]]) -> dict[str, Any]:
    """One offline camera over the footage; returns counts, CPU time and analytics: of
    the people of the clip parts (events of visits and crossings that began in ``spans``)
    and, apart, of the idle stretches (an empty background: every event there is false)."""
    cam = CameraConfig(id=clip.name, url=str(path), mode="offline",
                       inference={"skip_static": gated, "result_buffer": 0},
                       stills={"interval_s": None}, **clip.geometry)
    lane = CameraLane(cam.id, TrackerConfig(), SmoothingConfig())
    events: list[Event] = []
    analytics: list[CameraAnalytics] = []

    def consume(frames) -> None:
        for frame in frames:
            if not analytics:
                analytics.append(CameraAnalytics(cam.id, AnalyticsConfig(
                    zones=cam.zones, lines=cam.lines, min_distinct_tracks=1),
                    frame.meta.width, frame.meta.height))
            events.extend(analytics[0].update(frame))

    async def deliver(results: list[DetectedFrame]) -> None:
        for r in results:
            consume(lane.step(r.meta, r.detections, r.static))

    calls_before = detector.calls
    ingest = CameraIngest(cam, detector.spec, infer=detector.infer_for(
        cam.inference.max_groups_in_flight), deliver=deliver)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stats = asyncio.run(ingest.run())
    consume(lane.flush())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    crossings: dict[str, int] = {}
    visits: dict[str, int] = {}
    dwell: list[float] = []
    idle = {"line_cross": 0, "zone_enter": 0}
    for e in events:
        began = e.pts_s - (e.dwell_s or 0.0)
        if not any(start - 1e-6 <= began < end for start, end in spans):
            if e.kind in idle:
                idle[e.kind] += 1
        elif e.kind == "line_cross":
            key = f"{e.element_id}:{e.direction}"
            crossings[key] = crossings.get(key, 0) + 1
        elif e.kind == "zone_enter":
            visits[e.element_id] = visits.get(e.element_id, 0) + 1
        elif e.kind == "zone_exit" and e.dwell_s is not None:
            dwell.append(e.dwell_s)
    return {
        "frames": stats.frames_delivered, "failed": stats.frames_failed,
        "detector_frames": detector.calls - calls_before, "held": stats.frames_held,
        "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "fps_per_core": round(stats.frames_delivered / cpu, 2),
        "crossings": dict(sorted(crossings.items())), "visits": dict(sorted(visits.items())),
        "exits": len(dwell), "mean_dwell_s": round(float(np.mean(dwell)), 4) if dwell else None,
        "idle_false_crossings": idle["line_cross"], "idle_false_visits": idle["zone_enter"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter footage (< 3 min)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rng = np.random.default_rng(2026)
    detector = InProcessDetector()
    per_clip: dict[str, Any] = {}
    totals = {"gated": [0, 0.0], "ungated": [0, 0.0]}
    dwell_pairs, counts_equal, visits_equal = [], True, True
    with tempfile.TemporaryDirectory(prefix="panoray-motion-") as tmp:
        for clip in clips(args.quick):
            t0 = time.perf_counter()
            path, n, fps, spans = build_footage(clip, Path(tmp), rng)
            print(f"{clip.name}: {n} frames at {fps:g} fps built in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
            row: dict[str, Any] = {"footage_frames": n, "fps": fps}
            for mode in ("ungated", "gated"):
                row[mode] = run_camera(clip, path, detector, mode == "gated", spans)
                totals[mode][0] += row[mode]["frames"]
                totals[mode][1] += row[mode]["cpu_s"]
                print(f"  {mode}: {row[mode]}", file=sys.stderr)
            g, u = row["gated"], row["ungated"]
            row["fps_per_core_ratio"] = round(g["fps_per_core"] / u["fps_per_core"], 3)
            counts_equal &= g["crossings"] == u["crossings"]
            visits_equal &= g["visits"] == u["visits"]
            if u["mean_dwell_s"]:
                row["mean_dwell_rel_diff"] = round(
                    abs(g["mean_dwell_s"] - u["mean_dwell_s"]) / u["mean_dwell_s"], 4)
                dwell_pairs.append(row["mean_dwell_rel_diff"])
            per_clip[clip.name] = row
    ratio = ((totals["gated"][0] / totals["gated"][1])
             / (totals["ungated"][0] / totals["ungated"][1]))
    worst_clip_ratio = min(r["fps_per_core_ratio"] for r in per_clip.values())
    worst_dwell = max(dwell_pairs) if dwell_pairs else 0.0
    emit({
        "benchmark": "motion_gate", "quick": args.quick, "machine": machine(),
        "path": "in-process cores (CameraIngest, ONNX detector, CameraLane, CameraAnalytics); "
                "no Ray",
        "clips": per_clip,
        "fps_per_core": {m: round(t[0] / t[1], 2) for m, t in totals.items()},
        "worst_clip_fps_per_core_ratio": worst_clip_ratio,
        "idle_false_events": {m: sum(r[m]["idle_false_crossings"] + r[m]["idle_false_visits"]
                                     for r in per_clip.values()) for m in totals},
        "goals": {
            "gated_fps_per_core_ratio": goal(ratio, SPEEDUP_GOAL),
            "line_counts_identical": goal(float(counts_equal), 1.0),
            "visits_identical": goal(float(visits_equal), 1.0),
            "worst_mean_dwell_rel_diff": goal(worst_dwell, DWELL_GOAL, higher_is_better=False),
        },
    })


if __name__ == "__main__":
    main()
