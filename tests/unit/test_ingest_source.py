"""Opening and decoding real sources: files, image directories, HTTP MJPEG; and every bad
input giving a SourceError with a clear reason (no Ray here)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.errors import (
    SourceCorruptError,
    SourceNotFoundError,
    SourceOpenError,
    StreamError,
    UnsupportedSourceError,
)
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.diagnose import UNDIAGNOSED
from pipeline.ingest.source import decode_threads, diagnose_network, open_source, resolve_kind
from pipeline.mot import read_seqinfo
from tests.conftest import free_port
from tests.images import astronaut_rgb, encode
from tests.media import write_clip, write_image_sequence
from tests.mjpeg_server import MjpegServer


def cam(url, **source) -> CameraConfig:
    return CameraConfig(id="cam", url=url,
                        source={"open_timeout_s": 2, "read_timeout_s": 1, **source})


def read_all(src):
    out = []
    while src.grab():
        frame = src.retrieve()
        out.append((src.position_s(), None if frame is None else frame.shape))
    src.close()
    return out


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://u:p@h/x", "rtsp"), ("RTSPS://h/x", "rtsp"), ("http://h/v.mjpg", "http"),
        ("https://h/v", "http"), ("/dev/video0", "usb"), ("0", "usb"), (2, "usb"),
        ("/data/clip.mp4", "file"), ("file:///data/clip.mkv", "file"), ("clip.avi", "file"),
    ],
)
def test_kind_from_url(url, kind):
    assert resolve_kind(cam(url)) == kind


def test_kind_of_a_directory_is_images(tmp_path):
    assert resolve_kind(cam(str(tmp_path))) == "images"


@pytest.mark.parametrize(
    ("url", "kind", "message"),
    [
        ("foo://u:secret@h/x", "auto",
         r"camera 'cam' \(unknown foo://u:\*\*\*@h/x\): unsupported URL scheme 'foo'; "
         "expected a file path"),
        ("rtmp://h/live", "auto", "unsupported URL scheme 'rtmp'"),
        ("http://h/x", "rtsp", r"kind rtsp needs a URL starting with rtsp:// or rtsps://"),
        ("/x.mp4", "http", r"kind http needs a URL starting with http:// or https://"),
    ],
)
def test_unknown_scheme_or_mismatched_kind(url, kind, message):
    with pytest.raises(UnsupportedSourceError, match=message) as info:
        resolve_kind(cam(url, kind=kind))
    assert not info.value.retryable and "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("ext", "codec"), [("mp4", "libx264"), ("mkv", "libx264"), ("avi", "mjpeg")]
)
def test_decodes_real_clips_with_timestamps_in_order(tmp_path, ext, codec):
    path = write_clip(tmp_path / f"clip.{ext}", n=24, fps=12, codec=codec)
    src = open_source(cam(str(path)))
    assert (src.info.kind, src.info.live, src.info.fps) == ("file", False, 12.0)
    assert (src.info.width, src.info.height, src.info.frame_count) == (480, 270, 24)
    frames = read_all(src)
    assert len(frames) == 24
    assert all(shape == (270, 480, 3) for _, shape in frames)
    # mkv stores milliseconds, so allow 1 ms of rounding
    np.testing.assert_allclose([p for p, _ in frames], np.arange(24) / 12, atol=0.001)


@pytest.mark.parametrize(("num_cpus", "configured", "threads"),
                         [(0.25, 0, 1), (0, 0, 1), (2, 0, 2), (0.25, 3, 3)])
def test_decode_threads_follow_the_reserved_cpus_unless_set(num_cpus, configured, threads):
    config = CameraConfig(id="cam", url="/x.mp4", source={"decode_threads": configured},
                          placement={"num_cpus": num_cpus})
    assert decode_threads(config) == threads


def test_one_or_several_decoding_threads_give_the_same_frames(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", n=12, fps=12)
    decoded = []
    for threads in (1, 3):
        src = open_source(cam(str(path), decode_threads=threads))
        frames = []
        while src.grab():
            frames.append(src.retrieve())
        src.close()
        decoded.append(np.stack(frames))
    assert decoded[0].shape == (12, 270, 480, 3)
    np.testing.assert_array_equal(decoded[0], decoded[1])


def test_image_directory_with_seqinfo(tmp_path):
    write_image_sequence(tmp_path / "SEQ", n=6, fps=5)
    # the sequence directory (holding img1/ and seqinfo.ini) works, and so does img1/
    for url in (tmp_path / "SEQ", tmp_path / "SEQ" / "img1"):
        src = open_source(cam(str(url)))
        assert (src.info.kind, src.info.fps, src.info.frame_count) == ("images", 5.0, 6)
        frames = read_all(src)
        assert [p for p, _ in frames] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        assert frames[0][1] == (180, 320, 3)


def test_image_directory_fps_from_config_then_default(tmp_path):
    img1 = write_image_sequence(tmp_path / "SEQ", n=3, fps=None)
    (img1 / "000002.jpg").unlink()                     # a gap keeps its time
    (img1 / "notes.txt").write_text("not an image")     # ignored
    assert [p for p, _ in read_all(open_source(cam(str(img1))))] == pytest.approx([0, 2 / 25])
    src = open_source(cam(str(img1), fps=10))
    assert [p for p, _ in read_all(src)] == pytest.approx([0, 0.2])


def test_seqinfo_of_the_shared_mot_data_if_present():
    from pathlib import Path

    seq = Path("/work/shared/data/mot15/TUD-Campus")
    if not (seq / "seqinfo.ini").exists():
        pytest.skip("shared MOT15 data not present")
    assert read_seqinfo(seq).fps == 25.0


@pytest.fixture
def bad_files(tmp_path):
    clip = write_clip(tmp_path / "good.mp4", n=48, fps=12).read_bytes()
    fast = write_clip(tmp_path / "fast.mp4", n=48, fps=12, faststart=True).read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    # index (moov) at the end, cut off: FFmpeg cannot open it
    (tmp_path / "cut.mp4").write_bytes(clip[: len(clip) // 2])
    # index first, data cut: opens, then ends early
    (tmp_path / "cut_fast.mp4").write_bytes(fast[: len(fast) // 2])
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
    (tmp_path / "emptydir").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("name", "error", "reason", "when"),
    [
        ("missing.mp4", SourceNotFoundError, "file does not exist", "open"),
        ("empty.mp4", SourceCorruptError, r"file is empty \(0 bytes\)", "open"),
        ("cut.mp4", SourceCorruptError,
         "FFmpeg could not open the file: not a video, or truncated or corrupt", "open"),
        ("noise.mp4", SourceCorruptError,
         "FFmpeg could not open the file: not a video, or truncated or corrupt", "open"),
        ("cut_fast.mp4", SourceCorruptError,
         r"file ended after \d+ of the 48 frames it declares: truncated or corrupt", "read"),
        ("emptydir", SourceCorruptError, r"directory holds no numbered images", "open"),
        ("missingdir/img1/", SourceNotFoundError, "does not exist", "open"),
    ],
)
def test_bad_files_give_a_reason(bad_files, name, error, reason, when):
    config = cam(str(bad_files / name), kind="images" if "dir" in name else "auto")
    with pytest.raises(error, match=reason) as info:
        src = open_source(config)
        assert when == "read", "opened a file that should not open"
        read_all(src)
    assert not info.value.retryable
    assert info.value.camera_id == "cam"


def test_a_corrupt_stretch_mid_file_costs_only_its_own_frames(tmp_path, caplog):
    """OpenCV's first failed grab ended the file there (91 of 200 frames, the rest lost as
    'truncated'); each failed grab drops one packet, so grabbing on steps over it."""
    clip = bytearray(write_clip(tmp_path / "good.mp4", n=200, fps=12).read_bytes())
    middle = len(clip) // 2
    clip[middle:middle + 20_000] = b"\x55" * 20_000
    (tmp_path / "bad.mp4").write_bytes(bytes(clip))
    frames = read_all(open_source(cam(str(tmp_path / "bad.mp4"))))
    times = [t for t, _ in frames]
    assert 150 <= len(frames) < 200 and all(shape is not None for _, shape in frames)
    assert times == sorted(times) and times[-1] == pytest.approx(199 / 12, abs=0.1)
    gap = max(b - a for a, b in zip(times, times[1:]))
    assert gap > 2 / 12  # the lost frames are a gap in media time, not renumbered
    assert "corrupt packet(s) after frame" in caplog.text


def test_unreachable_host_is_retryable_and_its_log_says_why(caplog):
    port = free_port()
    with pytest.raises(SourceOpenError) as info:
        open_source(cam(f"rtsp://bob:s3cret@127.0.0.1:{port}/live"))
    assert info.value.retryable and info.value.reason == UNDIAGNOSED  # no port oracle
    assert "s3cret" not in str(info.value) and "bob:***@" in str(info.value)
    logged = caplog.text
    assert f"connection to 127.0.0.1:{port} refused" in logged, logged
    assert "s3cret" not in logged and "bob:***@" in logged


def test_missing_usb_device_is_retryable():
    message = r"device /dev/video97 does not exist \(unplugged\?\)"
    with pytest.raises(SourceOpenError, match=message) as info:
        open_source(cam("/dev/video97"))
    assert info.value.retryable


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://no-such-host.invalid/x", "host name 'no-such-host.invalid' does not resolve"),
        ("rtsp:///x", "the URL has no host"),
    ],
)
def test_diagnose_network(url, expected):
    assert diagnose_network(url, 1.0) == expected


def test_diagnose_reachable_server():
    with MjpegServer([encode(astronaut_rgb())]).start() as server:
        assert "accepts connections but FFmpeg could not open" in diagnose_network(server.url, 1.0)


def test_http_mjpeg_stream_then_stall_raises_stream_error():
    jpegs = [encode(np.roll(astronaut_rgb(), 20 * i, axis=1)) for i in range(3)]
    with MjpegServer(jpegs, fps=30, stall_after=5).start() as server:
        src = open_source(cam(server.url))
        assert (src.info.kind, src.info.live, src.info.width) == ("http", True, 512)
        for _ in range(5):
            assert src.grab() and src.retrieve().shape == (512, 512, 3)
        started = time.monotonic()
        with pytest.raises(StreamError, match="stream stalled: no frame for 1 s") as info:
            src.grab()
        assert info.value.retryable and time.monotonic() - started < 5
        src.close()


@pytest.mark.parametrize(("transport", "url", "expected"), [
    ("tcp", "rtsp://h/x", "rtsp_transport;tcp"),
    ("udp", "rtsp://h/x", "rtsp_transport;udp"),
    ("tcp", "http://h/x", None),      # only RTSP opens get the option
])
def test_rtsp_transport_is_set_for_the_open_and_restored(monkeypatch, transport, url, expected):
    import os

    import cv2

    import pipeline.ingest.source as source

    seen = {}

    class FakeCapture:
        def setExceptionMode(self, on):  # noqa: N802 - OpenCV's name
            pass

        def open(self, target, backend, params):
            seen["env"] = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
            seen["backend"], seen["params"] = backend, dict(zip(params[::2], params[1::2]))
            return False

        def release(self):
            pass

    monkeypatch.setattr(source.cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr(source, "diagnose_network", lambda url, timeout: "probe skipped")
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "user;value")
    with pytest.raises(SourceOpenError, match="FFmpeg could not open the stream"):
        open_source(cam(url, transport=transport))
    assert seen["env"] == expected and seen["backend"] == cv2.CAP_FFMPEG
    assert seen["params"] == {cv2.CAP_PROP_OPEN_TIMEOUT_MSEC: 2000,
                              cv2.CAP_PROP_READ_TIMEOUT_MSEC: 1000,
                              cv2.CAP_PROP_N_THREADS: 1}
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "user;value"


def test_an_http_camera_held_to_its_address_follows_no_redirect_and_reads_no_playlist():
    """A camera added through the API was checked for its host only: a redirect or an HLS
    playlist must not make FFmpeg connect elsewhere (here: a loopback listener that
    counts requests). Its MJPEG stream still plays; without the restriction FFmpeg does
    go elsewhere, so the check can fail."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    elsewhere = f"http://127.0.0.1:{free_port()}/secret"
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", elsewhere)
                self.end_headers()
                return
            body = (f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{elsewhere}.ts\n"
                    "#EXT-X-ENDLIST\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Counter(Handler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

    port = int(elsewhere.split(":")[2].split("/")[0])
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler),
               ThreadingHTTPServer(("127.0.0.1", port), Counter)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{servers[0].server_address[1]}"
    try:
        for path in ("/redirect", "/live/stream"):
            with pytest.raises(SourceOpenError):
                open_source(cam(base + path, only_its_address=True, diagnose=False))
        assert hits == []
        with MjpegServer([encode(astronaut_rgb())]).start() as server:
            src = open_source(cam(server.url, only_its_address=True))
            assert src.grab() and src.retrieve().shape == (512, 512, 3)
            src.close()
        with pytest.raises(SourceOpenError):
            open_source(cam(base + "/redirect", diagnose=False))
        assert hits == ["/secret"]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
