"""A real 3-camera pipeline to break, and the checks every fault case makes.

Each case runs the same offline input (the demo clip as three cameras, every frame
analysed) through :class:`PipelineRunner` on the session's Ray cluster, kills one
process with SIGKILL while frames flow, lets the run end, and compares its Parquet output
with an unfaulted run of the same input (:func:`events_by_camera`).
"""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import ray

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
CAMERAS = ("cam-a", "cam-b", "cam-c")
FRAMES = 150  # 15 s of media per camera
FPS = 10.0  # the clip's frame rate
# Four zones tiling the frame and three lines: many events from little media.
ZONES = [{"id": f"q{i}{j}", "points": [[i / 2, j / 2], [(i + 1) / 2, j / 2],
                                       [(i + 1) / 2, (j + 1) / 2], [i / 2, (j + 1) / 2]]}
         for i in range(2) for j in range(2)]
LINES = [{"id": f"x{k}", "start": [k / 4, 0.05], "end": [k / 4, 0.95]} for k in (1, 2, 3)]


def site(out: pathlib.Path, frames: int = FRAMES, mode: str = "offline",
         camera: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The fault suite's site config: three cameras of the demo clip, two trackers and two
    aggregators (so that one host's death spares a camera), 5 s windows; ``camera``: more
    fields of every camera."""
    cams = [{"id": cid, "url": str(CLIP), "mode": mode,
             "source": {"max_frames": frames, **({"loop": True} if mode == "live" else {})},
             # what is lost under faults does not depend on how frames are detected: one
             # model run per frame keeps the suite's runs short
             "inference": {"tiling": None},
             "zones": ZONES, "lines": LINES, **(camera or {})} for cid in CAMERAS]
    return {"cameras": cams,
            "analytics": {"window_s": 5, "window_grace_s": 2, "min_distinct_tracks": 1},
            "ray": {"tracker_actors": 2, "aggregator_actors": 2,
                    "camera_check_interval_s": 0.5},
            "sinks": [{"type": "parquet", "root": str(out)}],
            **extra}


def read_output(out: pathlib.Path) -> dict[str, pd.DataFrame]:
    """Reads every Parquet file one by one (each must be whole and readable); returns the
    events, metrics and incidents tables (empty when none)."""
    tables: dict[str, list[pd.DataFrame]] = {"events": [], "metrics": [], "incidents": []}
    for path in sorted(out.rglob("*.parquet")):
        kind = path.relative_to(out).parts[0]
        frame = pq.read_table(path).to_pandas()
        for part in path.relative_to(out).parts[1:-1]:  # hive partitions
            key, _, value = part.partition("=")
            frame[key] = value
        tables.setdefault(kind, []).append(frame)
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in tables.items()}


def events_by_camera(events: pd.DataFrame) -> dict[str, dict[tuple, int]]:
    """Per camera, event counts by (kind, element, direction)."""
    out: dict[str, dict[tuple, int]] = {c: {} for c in CAMERAS}
    if events.empty:
        return out
    keys = events.assign(direction=events.direction.fillna("")).groupby(
        ["camera_id", "kind", "element_id", "direction"]).size()
    for (cam, *key), n in keys.items():
        out.setdefault(cam, {})[tuple(key)] = int(n)
    return out


def lost(base: dict[tuple, int], got: dict[tuple, int]) -> int:
    """Events of ``base`` missing from ``got`` (per kind, element and direction)."""
    return sum(max(0, n - got.get(k, 0)) for k, n in base.items())


def most_events_in(events: pd.DataFrame, camera: str, span_s: float) -> int:
    """The most events of ``camera`` in any ``span_s`` media seconds: what losing that
    span of media may cost."""
    pts = np.sort(events.loc[events.camera_id == camera, "pts_s"].to_numpy())
    if not len(pts):
        return 0
    return int(max(np.searchsorted(pts, p + span_s, side="right") - i for i, p in enumerate(pts)))


def window_starts(metrics: pd.DataFrame, camera: str) -> set[float]:
    return set(metrics.loc[metrics.camera_id == camera, "window_start_s"].round(3))


def read_tracks(folder: pathlib.Path) -> dict[str, pd.DataFrame]:
    """Per camera, its exported MOTChallenge rows (frame, id, left, top, width, height)
    in file order (none: no file, or an empty one)."""
    cols = ["frame", "id", "left", "top", "width", "height"]
    out = {}
    for cam in CAMERAS:
        path = folder / f"{cam}.txt"
        out[cam] = (pd.read_csv(path, header=None, usecols=range(6), names=cols)
                    if path.exists() and path.stat().st_size else pd.DataFrame(columns=cols))
    return out


@dataclass
class RunResult:
    """What a run left behind: its summary, Parquet tables and track export."""

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    seconds: float
    tracks: dict[str, pd.DataFrame]


def pid_of(actor: Any) -> int:
    """The process id of an actor (asked through Ray's ``__ray_call__``)."""
    return ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()), timeout=30)


def kill9(actor: Any) -> int:
    """SIGKILLs an actor's worker process; returns its pid."""
    pid = pid_of(actor)
    os.kill(pid, signal.SIGKILL)
    return pid


def detector_replica() -> Any:
    """A handle to a replica actor of the Detector deployment."""
    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if "SERVE_REPLICA" in a["name"] and "Detector" in a["name"]]
    assert names, "no Detector replica found"
    return ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])


def graph_of(runner: Any) -> dict[str, Any]:
    """The controller's live graph: camera actors, trackers, aggregators, the alerts
    actor (a list: none or one), records."""
    def peek(self: Any) -> dict[str, Any]:
        g = self._graph
        return {"actors": dict(g.actors), "trackers": list(g.trackers),
                "aggregators": list(g.aggregators), "alerts": [g.alerts] if g.alerts else [],
                "hosts": {cid: (g.trackers.index(r.tracker) if r.tracker in g.trackers else -1,
                                g.aggregators.index(r.aggregator)
                                if r.aggregator in g.aggregators else -1)
                          for cid, r in g.records.items()}}
    return ray.get(runner.controller.__ray_call__.remote(peek), timeout=30)


def make_runner(out: pathlib.Path, detector: Any, **extra: Any) -> Any:
    """A :class:`PipelineRunner` of the fault config (``extra``: as :func:`site`), offline
    unless ``mode`` says otherwise, its tracks exported beside ``out``."""
    from pipeline.app.runner import PipelineRunner, RunOptions
    from pipeline.site_config import SiteConfig

    mode = extra.get("mode", "offline")
    config = SiteConfig.model_validate(site(out, **extra))
    return PipelineRunner(config, RunOptions(offline=mode == "offline",
                                             export_tracks=out.parent / "tracks"),
                          detector=detector)


def wait_for_frames(runner: Any, frames: int, timeout_s: float = 120.0) -> None:
    """Returns once the run's cameras have delivered ``frames`` frames in total."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(s.frames_delivered for s in runner.camera_stats().values()) >= frames:
            return
        time.sleep(0.2)


def run_pipeline(out: pathlib.Path, detector: Any, fault: Callable[[Any], None] | None = None,
                 when_frames: int = FRAMES // 3, **extra: Any) -> RunResult:
    """Runs the fault config offline to its end; ``fault(runner)`` is called once the
    cameras have delivered ``when_frames`` frames in total."""
    runner = make_runner(out, detector, **extra)
    started = time.monotonic()
    runner.start()
    stop = threading.Event()
    try:
        if fault is not None:
            wait_for_frames(runner, when_frames)
            fault(runner)
        why = runner.wait(stop)
        assert why in ("ended", "lost"), why
    finally:
        summary = runner.shutdown()
    return RunResult(summary, read_output(out), time.monotonic() - started,
                     read_tracks(out.parent / "tracks"))
