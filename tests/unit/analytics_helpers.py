"""Helpers shared by the analytics tests: hand-made and MOT ground-truth trajectories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import astuple
from pathlib import Path

import numpy as np

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import ClosedWindow, Event
from pipeline.types import FrameMeta, TrackedFrame, Tracks

FPS = 25.0
WALL0 = 1.8e9  # wall time of media time 0, seconds since the epoch


def at(tracks: Tracks, pts_s: float, removed_ids: Iterable[int] = (),
       captured_at: float | None = None, camera_id: str = "cam1") -> TrackedFrame:
    """``tracks`` as the tracker's frame at media time ``pts_s`` (captured at
    ``WALL0 + pts_s`` unless given); the analytics read neither its index nor its size."""
    wall = WALL0 + pts_s if captured_at is None else captured_at
    return TrackedFrame(FrameMeta(camera_id, 0, pts_s, wall, 0, 0), tracks, list(removed_ids))


def tracks_at(rows: Iterable[tuple[int, float, float]], box_h: float = 50.0) -> Tracks:
    """Tracks whose anchors (bottom centres) are the given ``(track_id, x, y)`` points."""
    rows = list(rows)
    if not rows:
        return Tracks.empty()
    ids = np.array([r[0] for r in rows], np.int64)
    x = np.array([r[1] for r in rows], np.float64)
    y = np.array([r[2] for r in rows], np.float64)
    boxes = np.stack([x - 10.0, y - box_h, x + 10.0, y], axis=1).astype(np.float32)
    return Tracks(boxes, np.ones(len(rows), np.float32), np.zeros(len(rows), np.int16), ids)


def feed_path(
    cam: CameraAnalytics,
    path: Sequence[tuple[float, float] | None],
    track_id: int = 1,
    box_h: float = 50.0,
    t0: float = 0.0,
) -> list[Event]:
    """Feeds one track along ``path`` (None: the track is not in that frame) at 25 fps."""
    events: list[Event] = []
    for i, p in enumerate(path):
        rows = [] if p is None else [(track_id, p[0], p[1])]
        events += cam.update(at(tracks_at(rows, box_h), t0 + i / FPS, captured_at=1.8e9 + i / FPS))
    return events


def mot_dir() -> Path:
    """Directory of the MOT ground truth shipped inside the motmetrics package."""
    import motmetrics

    return Path(motmetrics.__file__).parent / "data"


def load_mot(name: str) -> tuple[dict[int, Tracks], int]:
    """Loads ``<name>/gt.txt`` (frame, id, x, y, w, h, ...) as Tracks per frame (1-based).

    Returns:
        The tracks of each frame that has any, and the last frame number.
    """
    rows: dict[int, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    for line in (mot_dir() / name / "gt.txt").read_text().splitlines():
        if not line.strip():
            continue
        f, tid, x, y, w, h = (float(v) for v in line.split(",")[:6])
        rows[int(f)].append((int(tid), x, y, w, h))
    frames = {}
    for f, items in rows.items():
        a = np.array(items, np.float64)
        boxes = np.stack([a[:, 1], a[:, 2], a[:, 1] + a[:, 3], a[:, 2] + a[:, 4]], axis=1)
        frames[f] = Tracks(
            boxes.astype(np.float32),
            np.ones(len(a), np.float32),
            np.zeros(len(a), np.int16),
            a[:, 0].astype(np.int64),
        )
    return frames, max(rows)


def mot_anchor_paths(frames: dict[int, Tracks]) -> dict[int, list[tuple[int, float, float]]]:
    """Per track id, its (frame, x, y) anchors in frame order, computed plainly."""
    paths: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for f in sorted(frames):
        t = frames[f]
        for (x1, _y1, x2, y2), tid in zip(t.boxes.tolist(), t.track_ids.tolist(), strict=True):
            paths[tid].append((f, (float(x1) + float(x2)) / 2.0, float(y2)))
    return paths


def run_mot(cam: CameraAnalytics, frames: dict[int, Tracks], last: int) -> list[Event]:
    """Feeds every frame 1..last (empty where the file has none) at 25 fps."""
    events: list[Event] = []
    for f in range(1, last + 1):
        t = frames.get(f, Tracks.empty())
        events += cam.update(at(t, (f - 1) / FPS, captured_at=1.8e9 + (f - 1) / FPS))
    return events


def event_key(e: Event) -> tuple:
    """An event without its wall-clock stamp (which depends on replay speed)."""
    return (e.camera_id, e.kind, e.element_id, e.direction, e.track_id, e.pts_s, e.dwell_s)


def window_key(w: ClosedWindow) -> tuple:
    """A closed window without wall-clock stamps, with its heatmap counts."""
    rows = tuple(astuple(m)[:3] + astuple(m)[4:] for m in w.metrics)  # drop window_start_at
    heat = None if w.heatmap is None else w.heatmap.counts.tolist()
    return (w.camera_id, w.start_s, w.end_s, w.complete, rows, heat)


AGG_T0 = 1_795_651_200.0  # 2026-11-26T00:00:00Z, wall time of frame 0
AGG_SIZE = (400, 300)
AGG_CONFIG = AnalyticsConfig(
    zones=[{"id": "left", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "min_visit_s": 0.2}],
    lines=[{"id": "mid", "start": [0.5, 0], "end": [0.5, 1]}],
    window_s=5.0,
    window_grace_s=3.0,
    min_distinct_tracks=1,
    heatmap={"columns": 8},
)
"""One zone, one line, 5 s windows: the camera the aggregator tests feed."""


def agg_meta(camera: str, i: int, fps: float = 10.0,
             size: tuple[int, int] = AGG_SIZE) -> FrameMeta:
    """FrameMeta of frame ``i`` of an aggregator-test camera at ``fps``."""
    return FrameMeta(camera, i, i / fps, AGG_T0 + i / fps, *size)
