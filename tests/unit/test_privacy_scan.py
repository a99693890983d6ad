"""The privacy scanners catch what they are meant to catch (and pass what is clean), so
that a clean scan of a real run (tests/cluster/test_privacy.py) means something."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.analytics.events import Event, WindowMetrics, metrics_to_table
from pipeline.analytics.heatmap import render_heatmap
from pipeline.ingest.config import StillsConfig
from pipeline.privacy import blur_people, private_still
from pipeline.redact import redact_text
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from tests.images import ASTRONAUT_PERSON_BOX, astronaut_rgb
from tests.privacy_scan import (
    MAX_DETAIL_RETAINED,
    ClipMatcher,
    Finding,
    check_regions,
    detail_retained,
    files_under,
    find_secrets,
    heatmap_background,
    heatmap_cell_violations,
    metric_rows_in,
    raw_media_findings,
    retention_violations,
    run_ids_in_log,
    scan_files_for_secrets,
    suppression_violations,
    track_id_violations,
)

PASSWORD = "s3cr3t:Pa55@word"
SECRETS = {"camera password": PASSWORD}
DAY = 86400.0
NOW = 1_795_651_200.0 + 12 * 3600  # 2026-11-26T12:00:00Z


# -- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (f"could not open rtsp://admin:{PASSWORD}@cam/live", "as is"),
        (f"GET rtsp://admin:{quote(PASSWORD, safe='')}@cam/live", "URL-encoded"),
        ("rtsp://admin:s3cr3t%3aPa55%40word@cam", "URL-encoded (lower-case hex)"),
        (f"q=pw%3D{quote(PASSWORD, safe='')}", "URL-encoded"),
        (f"dump {PASSWORD.encode().hex()}", "hex"),
    ]
    + [
        (f"Authorization: Basic {base64.b64encode(f'{user}:{PASSWORD}'.encode()).decode()}",
         f"base64 (offset {(len(user) + 1) % 3})")
        for user in ("a", "ab", "abc")
    ]
)
def test_a_secret_is_found_in_any_encoding(text, form):
    found = find_secrets(text, SECRETS, "log")
    assert [str(f) for f in found] == [f"log: camera password ({form})"]


def test_a_secret_is_found_in_a_json_body_that_escapes_it():
    secret = 'pä"ss\\word'
    body = json.dumps({"url": f"rtsp://u:{secret}@cam"})  # ensure_ascii: \u00e4, \", \\
    assert secret.encode() not in body.encode()
    assert find_secrets(body, {"password": secret}, "body") == [
        Finding("body", "password (JSON-escaped)")]


def test_redacted_text_holds_no_secret():
    url = f"rtsp://admin:{quote(PASSWORD, safe='')}@cam/live?token=abcdef123456"
    text = redact_text(f"could not open {url}; retrying", url)
    assert find_secrets(text, {**SECRETS, "token": "abcdef123456"}, "log") == []
    assert find_secrets(url, {**SECRETS, "token": "abcdef123456"}, "url") == [
        Finding("url", "camera password (URL-encoded)"), Finding("url", "token (as is)")]


def test_a_password_in_a_compressed_parquet_column_or_its_metadata_is_found(tmp_path):
    # not the smallest nor the largest value: Parquet keeps those uncompressed as statistics
    notes = ["a"] + ["ok"] * 47 + [f"n{PASSWORD}", "z"]
    table = pa.table({"kind": ["zone_enter"] * 50, "note": notes})
    pq.write_table(table, tmp_path / "cells.parquet", compression="gzip")
    assert PASSWORD.encode() not in (tmp_path / "cells.parquet").read_bytes()  # compressed
    meta = pa.table({"a": [1]}).replace_schema_metadata({"source": f"rtsp://u:{PASSWORD}@h"})
    pq.write_table(meta, tmp_path / "meta.parquet")
    pq.write_table(pa.table({"kind": ["zone_enter"]}), tmp_path / "clean.parquet")
    found = scan_files_for_secrets(files_under(tmp_path), SECRETS)
    assert sorted(Path(f.where).name for f in found) == ["cells.parquet", "meta.parquet"]


def _with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    chunk = struct.pack(">I", len(body)) + kind + body
    chunk += struct.pack(">I", zlib.crc32(kind + body))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def test_a_password_in_a_compressed_png_text_chunk_is_found(tmp_path):
    png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    (tmp_path / "clean.png").write_bytes(png)
    (tmp_path / "text.png").write_bytes(
        _with_chunk(png, b"zTXt", b"Comment\0\0" + zlib.compress(f"url {PASSWORD}".encode())))
    itxt = b"Source\0\1\0\0\0" + zlib.compress(PASSWORD.encode())
    (tmp_path / "itext.png").write_bytes(_with_chunk(png, b"iTXt", itxt))
    assert cv2.imread(str(tmp_path / "text.png")) is not None  # still a valid PNG
    found = scan_files_for_secrets(files_under(tmp_path), SECRETS)
    assert sorted(Path(f.where).name for f in found) == ["itext.png", "text.png"]


# -- blurring --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo():
    """A real photograph (BGR) and its person's box."""
    return cv2.cvtColor(astronaut_rgb(), cv2.COLOR_RGB2BGR), ASTRONAUT_PERSON_BOX


def _jpeg(image, quality):
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 1)


def _pipeline_still(image, box):
    """What the camera does to a still before it leaves (nothing downstream blurs again)."""
    return private_still(image, [box], StillsConfig().blur_sigma_px)


@pytest.mark.parametrize(
    ("make", "blurred"),
    [
        (lambda img, box: img.copy(), False),
        (lambda img, box: _jpeg(img, 60), False),
        (lambda img, box: np.clip(img * 0.8 + 20, 0, 255).astype(np.uint8), False),
        (lambda img, box: blur_people(img, [[0, 0, 1, 1]]), False),  # someone else's box
        (lambda img, box: blur_people(img, [box], blocks=175), False),  # 2 px blocks
        (lambda img, box: cv2.GaussianBlur(img, (0, 0), 3.0), True),
        (lambda img, box: blur_people(img, [box], method="gaussian"), True),
        (lambda img, box: blur_people(img, [box]), True),  # pixelated
        (_pipeline_still, True),
    ],
    ids=["copy", "jpeg", "contrast", "wrong-box", "fine-blocks", "gaussian", "blur-people",
         "pixelated", "pipeline"],
)
def test_the_blur_check_fails_a_sharp_person_and_passes_a_blurred_one(photo, make, blurred):
    image, box = photo
    [check] = check_regions(make(image, box), image, [box])
    assert check.judged and check.blurred is blurred, check
    assert (check.detail <= MAX_DETAIL_RETAINED) is blurred


def test_flat_or_tiny_regions_are_not_judged(photo):
    flat = np.full((100, 100, 3), 90, np.uint8)
    [check] = check_regions(flat, flat, [[10, 10, 60, 60]])
    assert not check.judged and check.blurred
    image, _ = photo
    [tiny] = check_regions(image, image, [[10, 10, 13, 40]])
    assert not tiny.judged


def test_whole_image_detail_tells_a_frame_from_a_softened_still(photo):
    image, box = photo
    assert detail_retained(image, image) == pytest.approx(1.0)
    assert detail_retained(_jpeg(image, 90), image) > 0.5
    assert detail_retained(_pipeline_still(image, box), image) < MAX_DETAIL_RETAINED / 10
    with pytest.raises(ValueError, match="sizes differ"):
        detail_retained(image[:10], image)


def test_a_heatmap_over_a_sharp_still_is_caught_and_one_over_a_blurred_still_passes(photo):
    image, box = photo
    counts = np.zeros((8, 8), np.int64)
    counts[2:8, 0:6] = np.arange(36).reshape(6, 6) + 3  # most of the person under colour

    def decoded(still):
        return cv2.imdecode(np.frombuffer(render_heatmap(counts, still), np.uint8), 1)

    sharp, soft = decoded(image), decoded(_pipeline_still(image, box))
    assert check_regions(heatmap_background(sharp, counts), image, [box])[0].detail > 0.9
    assert not check_regions(heatmap_background(sharp, counts), image, [box])[0].blurred
    assert check_regions(heatmap_background(soft, counts), image, [box])[0].blurred
    assert detail_retained(heatmap_background(soft, counts), image) < MAX_DETAIL_RETAINED


def test_clip_matcher_finds_the_frame_an_image_was_made_from(photo):
    image, box = photo
    frames = [np.roll(image, 7 * i, axis=1) for i in range(12)]
    matcher = ClipMatcher({"still": _pipeline_still(frames[5], box), "leak": frames[9]}, keep=2)
    for i, frame in enumerate(frames):
        matcher.add(i, frame)
    assert matcher.matches("leak")[0][0] == 9
    assert 5 in [i for i, _ in matcher.matches("still")]
    assert len(matcher.matches("still")) == 2


# -- raw frames ------------------------------------------------------------------------


def test_raw_frames_in_any_form_are_found_and_aggregates_are_not(tmp_path):
    w, h = 64, 48
    frame = np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "frame.jpg"), frame)
    (tmp_path / "clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    (tmp_path / "dump.bin").write_bytes(frame.tobytes())
    np.save(tmp_path / "frame.npy", frame)
    np.save(tmp_path / "grey.npy", frame[:, :, 0].astype(np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"frame": 1}], dtype=object), allow_pickle=True)
    pq.write_table(pa.table({"blob": [frame.tobytes()]}), tmp_path / "blob.parquet")
    clean = tmp_path / "clean"
    clean.mkdir()
    np.save(clean / "window-0.000.npy", np.arange(48, dtype=np.int64).reshape(6, 8))
    pq.write_table(pa.table({"id": [b"ab"], "source": {"kind": ["zone_enter"]}}),
                   clean / "part.parquet")
    cv2.imwrite(str(clean / "window-0.000.png"), frame)  # images are judged by content
    (clean / "worker.log").write_text("x" * (w * h * 3))  # text of a frame's size

    found = raw_media_findings(files_under(tmp_path), [(w, h)])
    assert sorted((Path(f.where).name, f.what.split(" ")[1]) for f in found) == [
        ("blob.parquet", "column"),
        ("clip.mp4", ".mp4"),
        ("dump.bin", "bytes:"),
        ("frame.jpg", ".jpg"),
        ("frame.npy", "uint8"),
        ("grey.npy", "array"),
        ("objects.npy", "pickled"),
    ]


# -- tables ----------------------------------------------------------------------------


def _row(**fields):
    base = dict(camera_id="cam1", window_start_s=0.0, window_end_s=5.0,
                window_start_at=NOW, complete=True, element_kind="line", element_id="door",
                is_queue=False, frames=50, late_events=0, suppressed=False)
    return metrics_to_table([WindowMetrics(**{**base, **fields})]).to_pylist()[0]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (_row(suppressed=True), None),
        (_row(distinct_tracks=0, lr_direction="in", lr_count=0, rl_direction="out", rl_count=0),
         None),
        (_row(distinct_tracks=2, lr_direction="in", lr_count=1, rl_direction="out", rl_count=1),
         None),
        (_row(distinct_tracks=1, lr_direction="in", lr_count=1, rl_direction="out", rl_count=0),
         "publishes an aggregate of 1 distinct track(s), below k=2"),
        (_row(suppressed=True, lr_count=1), "is marked suppressed but publishes {'lr_count': 1}"),
        (_row(suppressed=True, distinct_tracks=1), "marked suppressed but publishes"),
        (_row(lr_count=3), "is published without distinct_tracks"),
        (_row(distinct_tracks=0, lr_count=1), "covers no track but counts {'lr_count': 1}"),
        (_row(element_kind="zone", distinct_tracks=0, visits=0, occupancy_max=1),
         "covers no track but counts {'occupancy_max': 1}"),
    ],
)
def test_suppression_check_finds_aggregates_of_fewer_than_k_tracks(row, problem):
    found = suppression_violations([row], k=2)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_metrics_rows_are_found_inside_an_api_answer():
    bad = _row(distinct_tracks=1, lr_count=1)
    # the dashboard's history leaves out null fields: a suppressed row is just its identity
    hidden = {"element_kind": "line", "element_id": "door", "suppressed": True}
    leaky = {"element_kind": "line", "element_id": "door", "suppressed": True, "rl_count": 1}
    answer = {"cameras": {"cam1": [{"rows": [hidden, bad, leaky]}]}, "suppressed": 3}
    assert metric_rows_in(answer) == [hidden, bad, leaky]
    assert [v.split(" is ")[-1].split(" publishes ")[-1] for v in
            suppression_violations(metric_rows_in(answer), k=3)] == [
        "an aggregate of 1 distinct track(s), below k=3", "{'rl_count': 1}"]


def test_heatmap_cells_below_k_are_found():
    counts = np.array([[0, 1, 5], [2, 0, 9]])
    assert heatmap_cell_violations(counts, 3) == [(0, 1, 1), (1, 0, 2)]
    assert heatmap_cell_violations(counts, 1) == []


def test_retention_check_finds_old_partitions_and_misfiled_old_rows(tmp_path):
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, events_retention_days=7,
                                         aggregates_retention_days=30))
    sink.clock = lambda: 0.0  # the run wrote them long ago by its own clock
    for age_days in (0, 3, 10):
        at = NOW - age_days * DAY
        sink.write_events([Event("cam1", "zone_enter", "z", None, 1, 0.0, at, None)])
    sink.flush()
    (tmp_path / "heatmaps").mkdir()
    np.save(tmp_path / "heatmaps" / "x.npy", np.zeros(1))  # not a partition: ignored
    old_heat = tmp_path / "heatmaps" / "date=2026-10-01" / "camera_id=cam1"
    old_heat.mkdir(parents=True)
    np.save(old_heat / "window-0.000.npy", np.zeros((2, 2), np.int64))

    found = retention_violations(tmp_path, NOW, 7, 30)
    assert found == [
        "events/date=2026-11-16 is older than 7 day(s)",
        "events/date=2026-11-16/camera_id=cam1/" + found[1].split("camera_id=cam1/")[1],
        "heatmaps/date=2026-10-01 is older than 30 day(s)",
    ]
    assert found[1].endswith("1 row(s) older than 7 day(s)")
    assert retention_violations(tmp_path, NOW, None, None) == []

    sink.apply_retention(NOW)  # the product's own retention satisfies the check ...
    assert not old_heat.exists()
    assert retention_violations(tmp_path, NOW, 7, 30) == []
    # ... and an old row hidden in a recent partition is still found
    recent = next((tmp_path / "events").rglob("*.parquet"))
    table = pq.read_table(recent)
    old = table.set_column(table.schema.get_field_index("captured_at"), "captured_at",
                           pa.array([NOW - 9 * DAY] * table.num_rows))
    pq.write_table(old, recent.with_name("part-misfiled.parquet"))
    assert [f.endswith("part-misfiled.parquet: 1 row(s) older than 7 day(s)")
            for f in retention_violations(tmp_path, NOW, 7, 30)] == [True]


def test_track_ids_must_be_per_run_counters_tagged_with_the_run():
    run = "0123456789abcdef0123456789abcdef"
    good = [{"camera_id": "cam1", "run_id": run, "track_id": i} for i in (1, 2, 40)]
    assert track_id_violations(good, {run}, max_track_id=1000) == []
    bad = [
        {"camera_id": "cam1", "track_id": 3},
        {"camera_id": "cam1", "run_id": "another-run", "track_id": 3},
        {"camera_id": "cam1", "run_id": run, "track_id": 0},
        {"camera_id": "cam1", "run_id": run, "track_id": 0x5F3A9C21E4},  # a hash, not a count
    ]
    found = track_id_violations(bad, {run}, max_track_id=1000)
    assert [f.split(" has ")[1].split(",")[0] for f in found] == [
        "run_id None", "run_id 'another-run'", "track_id 0", f"track_id {0x5F3A9C21E4}"]
    log = f"INFO pipeline started: 3 cameras, run {run}, output in /x\n"
    assert run_ids_in_log(log) == [run]
