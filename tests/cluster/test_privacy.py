"""Verify the privacy promises on a real run, from the outside.

One `panoray run` process (its own Ray, real Serve, real ONNX Runtime, real video) runs
live cameras: the demo clip looped, the same clip served as MJPEG behind a URL with a
password and a token, and an RTSP URL with a password where nothing listens (it keeps
reconnecting, so its URL goes through every error path). The test drives the HTTP API
(every GET route the OpenAPI document lists, for every camera; the dashboard's pages and
the scripts they load; a detection; a camera added and removed with the token; refused
requests) and stops the run with Ctrl-C. Then it scans everything that left the
pipeline: every HTTP response body and header, the run's output, every file of the
run's Ray session (logs of every worker, Serve's logs), every Parquet cell, every PNG
and .npy, and checks each promise of the design's privacy section in its own test, with
the scanners of tests/privacy_scan.py (whose unit tests prove each one catches a
violation).

The output folder is seeded before the run with partitions older than the retention
settings (which the run must delete), one within them (which it must keep), and events
of an earlier run that reuse the same track ids (which the run id tells apart).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
import shutil
import signal
import time
from urllib.parse import quote

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.analytics.events import ClosedWindow, Event, WindowMetrics
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from tests import privacy_scan as scan
from tests.images import astronaut_rgb, encode
from tests.mjpeg_server import MjpegServer
from tests.panoray_process import PanorayProcess

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
TOKEN = "privacy-api-token-" + "q" * 20
PASSWORD = "s3cr3tPassw0rd"
RTSP_URL = f"rtsp://user:{PASSWORD}@127.0.0.1:9/x"  # nothing listens: it keeps reconnecting
MJPEG_PASSWORD = "mj:Pa55@word!"  # must be percent-encoded in a URL
URL_TOKEN = "urltok3n8f7e6d5c"
SECRETS = {"camera password": PASSWORD, "MJPEG camera password": MJPEG_PASSWORD,
           "camera URL token": URL_TOKEN, "API token": TOKEN}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
K = 2  # analytics.min_distinct_tracks
EVENTS_DAYS, AGGREGATES_DAYS = 7, 30
STREAMING = ("campus", "secured")
CAMERA_IDS = (*STREAMING, "unreachable")
MJPEG_FRAMES = 150  # the first 15 s of the clip, looped by the server
DETECT_THRESHOLD = 0.3  # lower than the run's 0.4: finds people the run may have missed
MAX_TRACK_ID = 10_000  # 2 cameras, ~100 frames each, ~20 new people a frame at the worst
EARLIER_RUN = "earlier-run"
ZONE = {"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}
LINE = {"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66],
        "left_to_right": "westward", "right_to_left": "eastward"}
DAY = 86400.0
CAMERA_CPUS = 0.1  # Ray starts with this machine's 2 CPUs: leave room for the added camera


def _camera(cid: str, url: str) -> dict:
    return {"id": cid, "url": url, "mode": "live", "target_fps": 2, "zones": [ZONE],
            "lines": [LINE], "source": {"loop": True}, "stills": {"interval_s": 2},
            "placement": {"num_cpus": CAMERA_CPUS}}


def _date(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d")


def _seed(out: pathlib.Path, now: float) -> dict[str, pathlib.Path]:
    """Writes what an earlier run left: returns the partitions that must go and stay."""
    sink = ParquetSink(ParquetSinkConfig(root=out, events_retention_days=None), EARLIER_RUN)
    sink.write_events([Event("campus", "zone_enter", "path-west", None, track, 1.0, at, None)
                       for at in (now - 10 * DAY, now - 3600) for track in (1, 2)])
    row = WindowMetrics("campus", 0.0, 5.0, now - 10 * DAY, True, "zone", "path-west", False,
                        50, 0, True)
    sink.write_windows([ClosedWindow("campus", 0.0, 5.0, now - 10 * DAY, True, (row,), None)])
    sink.close()
    heat = out / "heatmaps" / "date=2001-01-01" / "camera_id=campus"
    heat.mkdir(parents=True)
    np.save(heat / "window-0.000.npy", np.zeros((2, 2), np.int64))
    return {"stale events": out / "events" / f"date={_date(now - 10 * DAY)}",
            "stale heatmaps": heat.parent,
            "kept metrics": out / "metrics" / f"date={_date(now - 10 * DAY)}"}


def _clip_frames(limit: int | None = None):
    cap = cv2.VideoCapture(str(CLIP))
    i = 0
    while limit is None or i < limit:
        ok, frame = cap.read()
        if not ok:
            break
        yield i, frame
        i += 1
    cap.release()


PAGE_LINK = re.compile(rb"""["'](/(?:static/)?[\w.-]*)["']""")
"""A same-origin page or static file named in an HTML page or script."""


def _crawl(run: PanorayProcess, start: str) -> None:
    """GETs ``start`` and every page and static file its pages and scripts name."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = run.get(path)
        if r.ok and r.headers.get("content-type", "").startswith(("text/", "application/j")):
            todo += [m.decode() for m in PAGE_LINK.findall(r.content)]


def _exercise_api(run: PanorayProcess) -> dict:
    """Calls every route a client can reach; returns what it learned."""
    spec = run.get("/openapi.json").json()
    routes = sorted(p for p, ops in spec["paths"].items() if "get" in ops)
    for path in routes:
        names = re.findall(r"{(\w+)}", path)
        for cid in CAMERA_IDS if names else (None,):
            run.get(re.sub(r"{\w+}", cid, path) if cid else path)
    _crawl(run, "/")  # the dashboard's pages are not in the OpenAPI document
    _crawl(run, "/docs")
    dashboard = any(ex.path == "/" and ex.status == 200 for ex in run.exchanges)
    r = run.request("POST", "/v1/detect", data=encode(astronaut_rgb()),
                    headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["detections"], r.text
    for headers, body, status in [
        ({}, {"id": "intruder", "url": RTSP_URL}, 401),
        ({"Authorization": f"Bearer {TOKEN}x"}, {"id": "intruder", "url": RTSP_URL}, 401),
        (AUTH, {"id": "bad id", "url": RTSP_URL}, 400),
        (AUTH, {"id": "campus", "url": RTSP_URL}, 409),
        (AUTH, {"id": "x", "url": f"ftp://user:{PASSWORD}@127.0.0.1/x"}, 400),
    ]:
        r = run.request("POST", "/v1/cameras", json=body, headers=headers)
        assert r.status_code == status, r.text
    r = run.request("POST", "/v1/cameras", headers=AUTH,
                    json={"id": "added", "url": RTSP_URL, "reconnect": {"max_s": 1.0},
                          "placement": {"num_cpus": CAMERA_CPUS}})
    assert r.status_code == 201, r.text
    run.wait_for("the added camera to fail and retry", lambda: (
        c := run.get("/v1/cameras/added").json())["reconnects"] >= 1 and c["last_error"])
    run.get("/v1/cameras")
    assert run.request("DELETE", "/v1/cameras/added", headers=AUTH).status_code == 200
    return {"routes": routes, "dashboard": dashboard}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The run, stopped: its exchanges, log, output and Ray session are left to scan."""
    tmp = tmp_path_factory.mktemp("privacy")
    now = time.time()
    seeded = _seed(tmp / "out", now)
    jpegs = [encode(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for _, f in _clip_frames(MJPEG_FRAMES)]
    mjpeg = MjpegServer(jpegs, fps=10, path=f"/video.mjpg?token={URL_TOKEN}").start()
    secured = mjpeg.url.replace("http://", f"http://viewer:{quote(MJPEG_PASSWORD, safe='')}@")
    config = {
        "cameras": [_camera("campus", str(CLIP)), _camera("secured", secured),
                    {"id": "unreachable", "url": RTSP_URL, "reconnect": {"max_s": 1.0},
                     "placement": {"num_cpus": CAMERA_CPUS}}],
        "analytics": {"window_s": 5, "window_grace_s": 2, "min_distinct_tracks": K},
        "sinks": [{"type": "parquet", "events_retention_days": EVENTS_DAYS,
                   "aggregates_retention_days": AGGREGATES_DAYS}],
        "http": {"token_env": "PANORAY_API_TOKEN",
                 "allowed_hosts": ["*", "127.0.0.1/32"]},  # the API adds RTSP_URL, on loopback
        "serving": {"batch_wait_timeout_s": 0.02},
    }
    proc = PanorayProcess(tmp, config, env={"PANORAY_API_TOKEN": TOKEN})
    try:
        proc.wait_for("both streaming cameras to deliver frames", lambda: all(
            (c := proc.get(f"/v1/cameras/{cid}").json())["state"] == "streaming"
            and c["frames_delivered"] > 0 for cid in STREAMING), timeout=240)
        today = proc.out / "heatmaps" / f"date={_date(time.time())}"
        proc.wait_for("two heatmaps and events of each streaming camera", lambda: all(
            len(list((today / f"camera_id={cid}").glob("*.png"))) >= 2
            and list((proc.out / "events").rglob(f"camera_id={cid}/*.parquet"))
            for cid in STREAMING), timeout=180)
        api = _exercise_api(proc)
        code = proc.stop(signal.SIGINT)
        assert code == 128 + signal.SIGINT, proc.text()[-4000:]
        text = proc.text()
        summary = json.loads(text[text.index("{\n"):text.rindex("}") + 1])
        yield {"proc": proc, "summary": summary, "seeded": seeded, **api}
    finally:
        mjpeg.close()
        proc.close()
        shutil.rmtree(proc.ray_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def outputs(run):
    return scan.files_under(run["proc"].out)


@pytest.fixture(scope="module")
def ray_files(run):
    sessions = run["proc"].ray_sessions()
    assert sessions, "the run's Ray session folder was not found"
    files = scan.files_under(*sessions)
    assert any(p.name.startswith("worker-") for p in files), "no worker logs in the session"
    return files


def test_no_secret_leaves_the_run(run, outputs, ray_files):
    """No camera password or URL token (as is, URL-encoded, base64, hex) and not the API
    token, in any response body or header, log line, Ray session file or output file."""
    proc, summary = run["proc"], run["summary"]
    # the secrets did go through the pipeline: the MJPEG camera streamed, the others retried
    assert summary["cameras"]["secured"]["frames_delivered"] > 0
    assert summary["cameras"]["unreachable"]["reconnects"] >= 1
    found = []
    for ex in proc.exchanges:
        where = f"{ex.method} {ex.path} -> {ex.status}"
        headers = "\n".join(f"{k}: {v}" for k, v in ex.headers.items())
        found += scan.find_secrets(headers, SECRETS, f"{where} (headers)")
        found += scan.find_secrets(ex.body, SECRETS, f"{where} (body)")
    found += scan.find_secrets(proc.text(), SECRETS, "the run's output")
    found += scan.scan_files_for_secrets(ray_files, SECRETS)
    found += scan.scan_files_for_secrets(outputs, SECRETS)
    assert not found, "\n".join(map(str, found))
    assert "rtsp://user:***@127.0.0.1:9/x" in proc.text() + "".join(
        p.read_text(errors="replace") for p in ray_files if p.suffix in (".err", ".out", ".log"))


@pytest.fixture(scope="module")
def images(run, outputs):
    """Every image that left the pipeline, as the still the viewer sees under any heatmap
    colour, with the clip frames it most resembles.

    A still carries no frame number, so each image is matched against every frame of the
    clip that all cameras show (:class:`privacy_scan.ClipMatcher`, on blurred thumbnails:
    a blurred still finds its frame or a neighbour, an unblurred copy finds exactly its
    frame), and the three closest frames are kept.
    """
    found: dict[str, np.ndarray] = {}
    for path in outputs:
        if path.suffix == ".png":
            png = cv2.imread(str(path), cv2.IMREAD_COLOR)
            counts = path.with_suffix(".npy")
            found[str(path)] = (scan.heatmap_background(png, np.load(counts))
                                if counts.exists() else png)
    for ex in run["proc"].exchanges:
        if ex.content_type.startswith("image/") and ex.status == 200:
            image = cv2.imdecode(np.frombuffer(ex.body, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, f"GET {ex.path}: an undecodable {ex.content_type}"
            found[f"GET {ex.path}"] = image
    assert sum(".png" in name for name in found) >= 4, sorted(found)
    matcher = scan.ClipMatcher(found)
    for i, frame in _clip_frames():
        matcher.add(i, frame)
    return found, matcher


def _keep_for_inspection(run, name: str, image: np.ndarray, frame: np.ndarray) -> str:
    """Writes a failing image and the clip frame it was judged against beside the run."""
    folder = run["proc"].out.parent / "failed-images"
    folder.mkdir(exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", name)[-80:]
    cv2.imwrite(str(folder / f"{stem}.left.png"), np.clip(image, 0, 255).astype(np.uint8))
    cv2.imwrite(str(folder / f"{stem}.original.png"), frame)
    return str(folder / stem)


def test_people_are_blurred_in_every_image_that_leaves(run, images):
    """In every heatmap PNG (its colour taken off) and every image the API serves, every
    person that the bundled detector finds (at a lower threshold than the run's) in the
    clip frames the image most resembles keeps at most MAX_DETAIL_RETAINED of that
    frame's high-frequency energy in place (:func:`privacy_scan.detail_retained`: blurring
    and pixelation both remove it, a sharp copy keeps 1.0, a JPEG of it over 0.6).

    Why not detect the people in the image itself: blurred people are not found. Why not
    the frame at the still's time: a still carries no frame number, hence the matching
    (see :func:`images`). People the run's detector missed are covered by the check of
    the whole image in :func:`test_no_raw_frame_is_written_anywhere`."""
    from models.config import ModelConfig
    from models.detector import OnnxDetector

    detector = OnnxDetector(ModelConfig(threshold=DETECT_THRESHOLD, warmup_runs=1))
    found, matcher = images
    boxes_of: dict[int, np.ndarray] = {}
    bad, judged = [], 0
    for name, image in found.items():
        h, w = image.shape[:2]
        for index, frame in matcher.matches(name):
            if index not in boxes_of:
                boxes_of[index] = detector.detect_image(frame).boxes
            scale = np.array([w / frame.shape[1], h / frame.shape[0]] * 2, np.float32)
            original = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            for check in scan.check_regions(image, original, boxes_of[index] * scale):
                judged += check.judged
                if not check.blurred:
                    kept = _keep_for_inspection(run, f"{name}-{index}", image, original)
                    bad.append(f"{name}: person at {check.box} keeps {check.detail:.2f} of "
                               f"frame {index}'s detail (energy {check.original_energy:.0f}; "
                               f"see {kept}.*.png)")
    assert not bad, "\n".join(bad)
    assert judged >= len(found), f"only {judged} person regions were judged"


def test_no_raw_frame_is_written_anywhere(images, outputs, ray_files, run):
    """No photo or video file, frame-sized buffer, frame-shaped array or binary blob in the
    output or the Ray session; no spilled objects (they would hold frames); and no image
    that keeps more than MAX_DETAIL_RETAINED of the detail of the clip frames it is
    closest to (stills are softened as a whole, so even people the detector missed show
    none)."""
    found = scan.raw_media_findings([*outputs, *ray_files], [_frame_size()])
    found += [f"{p}: an object spilled to disk" for p in ray_files if "spilled" in str(p)]
    images_found, matcher = images
    for name, image in images_found.items():
        h, w = image.shape[:2]
        for index, frame in matcher.matches(name):
            original = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            detail = scan.detail_retained(image, original)
            if detail > scan.MAX_DETAIL_RETAINED:
                kept = _keep_for_inspection(run, f"{name}-{index}", image, original)
                found.append(f"{name}: keeps {detail:.2f} of the detail of frame {index} "
                             f"(see {kept}.*.png)")
    assert not found, "\n".join(map(str, found))


def _frame_size() -> tuple[int, int]:
    cap = cv2.VideoCapture(str(CLIP))
    size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return size


def test_track_ids_are_anonymous_counters_scoped_to_the_run(run):
    """Every event row names its run; the run's id is a fresh random one, so the earlier
    run's rows, which use the same track ids, stay apart; track ids are small counters."""
    proc = run["proc"]
    rows = pq.read_table(proc.out / "events").to_pylist()
    ours = {r["run_id"] for r in rows if r["run_id"] != EARLIER_RUN}
    assert len(ours) == 1, ours
    run_id = ours.pop()
    assert scan.RUN_ID.match(run_id), run_id
    logged = scan.run_ids_in_log(proc.text() + "".join(
        p.read_text(errors="replace") for p in proc.ray_sessions()[0].rglob("worker-*.err")))
    assert set(logged) <= {run_id}, logged
    assert not scan.track_id_violations(rows, {run_id, EARLIER_RUN}, MAX_TRACK_ID)
    keys = {(r["run_id"], r["camera_id"], r["track_id"]) for r in rows
            if r["camera_id"] == "campus"}
    assert {(EARLIER_RUN, "campus", 1), (EARLIER_RUN, "campus", 2)} <= keys
    assert any(key[0] == run_id for key in keys)


def test_nothing_is_kept_past_its_retention(run):
    """The seeded partitions older than the retention are gone, the one within it is kept,
    and no partition, row or heatmap older than its retention setting remains."""
    seeded = run["seeded"]
    assert not seeded["stale events"].exists() and not seeded["stale heatmaps"].exists()
    assert seeded["kept metrics"].exists()
    out = run["proc"].out
    assert scan.retention_violations(out, time.time(), EVENTS_DAYS, AGGREGATES_DAYS) == []


def test_no_aggregate_covers_fewer_than_k_people(run, outputs):
    """No published metrics row (in the files or in any API answer) covers 1..k-1 distinct
    tracks, and no heatmap cell counts fewer than k observations."""
    rows = pq.read_table(run["proc"].out / "metrics").to_pylist()
    assert {r["camera_id"] for r in rows} >= set(STREAMING)
    bad = scan.suppression_violations(rows, K)
    for ex in run["proc"].exchanges:
        if ex.content_type == "application/json":
            rows = scan.metric_rows_in(json.loads(ex.body))
            bad += [f"{ex.method} {ex.path}: {v}" for v in scan.suppression_violations(rows, K)]
    for path in outputs:
        if path.suffix == ".npy":
            cells = scan.heatmap_cell_violations(np.load(path), K)
            bad += [f"{path}: cell {c[:2]} counts {c[2]}" for c in cells]
    assert not bad, "\n".join(bad)


def test_the_api_was_covered(run):
    """Every GET route of the OpenAPI document was called, and, where the dashboard
    exists, the scripts of its pages."""
    called = {ex.path for ex in run["proc"].exchanges}
    for route in run["routes"]:
        concrete = route if "{" not in route else re.sub(r"{\w+}", "campus", route)
        assert concrete in called, route
    if run["dashboard"]:  # `/` exists: its scripts were fetched and scanned too
        assert any(p.startswith("/static/") and p.endswith(".js") for p in called), called
