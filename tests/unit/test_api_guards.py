"""The runtime API's guards as pure functions, and the camera-side checks they rely on:
which hosts an API camera may reach, the Host header, untrusted bodies and images,
files confined to the media roots on every open, no port probes, and pixel geometry
checked against the frame before frames flow (no Ray here; real files, real OpenCV)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket

import pytest
from PIL import Image, PngImagePlugin

from models.preprocess import InputSpec
from pipeline.app.access import check_api_source, host_header_refusal
from pipeline.app.egress import host_refusal
from pipeline.app.uploads import decode_image, json_depth_exceeds
from pipeline.errors import InputError, SourceNotAllowedError, SourceNotFoundError, SourceOpenError
from pipeline.ingest.camera import CameraIngest
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.diagnose import UNDIAGNOSED
from pipeline.ingest.source import open_source
from pipeline.http_config import HttpConfig
from tests.conftest import free_port
from tests.media import write_clip, write_image_sequence

NAMES = {"cam.site": ["192.0.2.7"], "sneaky.site": ["192.0.2.8", "127.0.0.1"],
         "meta.site": ["169.254.169.254"], "localhost": ["127.0.0.1", "::1"]}


def resolve(host: str) -> list[str]:
    return NAMES.get(host, [])


@pytest.mark.parametrize(
    ("host", "allowed", "refusal"),
    [
        ("192.0.2.7", ("*",), None),
        ("cam.site", ("*",), None),
        ("[2001:db8::1]", ("*",), None),
        # the cloud metadata address and this machine: never by `*` or 0.0.0.0/0
        ("169.254.169.254", ("*",), "169.254.169.254 is a link-local address"),
        ("169.254.169.254", ("0.0.0.0/0",), "is a link-local address"),
        ("127.0.0.1", ("*",), "127.0.0.1 is a loopback address"),
        ("127.0.0.1", ("0.0.0.0/0", "::/0"), "is a loopback address"),
        ("[::1]", ("*",), "::1 is a loopback address"),
        ("[::ffff:127.0.0.1]", ("*",), "127.0.0.1 is a loopback address"),
        ("0.0.0.0", ("*",), "is a unspecified address"),
        ("localhost", ("*",), "host 'localhost' resolves to 127.0.0.1 is a loopback address"),
        ("meta.site", ("*",), "resolves to 169.254.169.254 is a link-local address"),
        ("sneaky.site", ("*",), "resolves to 127.0.0.1 is a loopback address"),
        # listed explicitly, they pass
        ("127.0.0.1", ("127.0.0.1/32",), None),
        ("localhost", ("localhost", "127.0.0.0/8", "::1/128"), None),
        # limited lists
        ("192.0.2.7", ("10.0.0.0/8",), "192.0.2.7 is not in http.allowed_hosts"),
        ("cam.site", ("*.site", "192.0.2.0/24"), None),
        ("cam.site", ("*.site",), "resolves to 192.0.2.7 is not in http.allowed_hosts"),
        ("cam.other", ("*.site",), "host 'cam.other' is not in http.allowed_hosts"),
        ("nowhere.site", ("*",), "host name 'nowhere.site' does not resolve"),
        ("", ("*",), "the URL names no host"),
    ],
)
def test_host_refusal(host, allowed, refusal):
    why = host_refusal(host, allowed, resolve)
    assert (why is None) if refusal is None else (why is not None and refusal in why), why


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("rtsp://127.0.0.1:22/x", "127.0.0.1 is a loopback address"),
        ("rtsp://u:p@localhost:8000/x", "resolves to 127.0.0.1 is a loopback address"),
        ("http://[::1]:8265/", "::1 is a loopback address"),
    ],
)
def test_api_cameras_may_not_reach_loopback_or_metadata(url, message):
    with pytest.raises(SourceNotAllowedError, match="camera URL refused") as err:
        check_api_source(CameraConfig(id="x", url=url), (), ("*",), resolve)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("http", "host", "refused"),
    [
        ({}, "127.0.0.1:8000", False),
        ({}, "localhost:8000", False),
        ({}, "LOCALHOST", False),
        ({}, "[::1]:8000", False),
        ({}, "attacker.example:8000", True),  # a rebound domain
        ({}, "127.0.0.1.nip.io", True),
        ({}, None, True),
        ({"allowed_host_headers": ["panoray.lan"]}, "panoray.lan:8000", False),
        ({"token": "t" * 32}, "attacker.example", True),  # a token does not lift it
        ({"host": "0.0.0.0", "token": "t" * 32}, "anything.example", False),  # not loopback
    ],
)
def test_host_header_on_loopback(http, host, refused):
    why = host_header_refusal(HttpConfig(**http), host)
    assert (why is not None) is refused, why


def _png_with_text(size: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "a" * size, zip=True)
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_a_small_png_with_a_huge_text_chunk_is_a_400_not_a_500():
    data = _png_with_text(4 * 2**20)
    assert len(data) < 8192
    with pytest.raises(InputError, match="not a usable JPEG or PNG image"):
        decode_image(data, 8192)
    assert decode_image(_png_with_text(100), 8192).shape == (8, 8, 3)


def test_json_nesting_is_measured_before_parsing():
    assert json_depth_exceeds(b"[" * 100_000, 32)
    assert not json_depth_exceeds(b'{"a": [[1, 2]], "s": "[[[[[[[[[[[[[[[[[[[["}', 3)
    assert json_depth_exceeds(b'{"a": [[[1]]]}', 3)


# -- media roots on every file opened ----------------------------------------------------
@pytest.fixture
def roots(tmp_path):
    media, outside = tmp_path / "media", tmp_path / "outside"
    media.mkdir()
    write_image_sequence(outside / "seq", n=3)
    write_clip(outside / "clip.mp4", n=3)
    return media, outside


def _api_camera(url, media):
    return check_api_source(CameraConfig(id="x", url=str(url)), [media])


def test_a_symlinked_img1_inside_a_root_is_refused_when_opened(roots):
    media, outside = roots
    (media / "seq").mkdir()
    (media / "seq" / "img1").symlink_to(outside / "seq" / "img1")
    cam = _api_camera(media / "seq", media)
    with pytest.raises(SourceNotFoundError, match="resolves outside the camera's allowed folders"):
        open_source(cam)
    unconfined = CameraConfig(id="x", url=str(media / "seq"))  # the config file's: not confined
    assert open_source(unconfined).info.frame_count == 3


def test_symlinked_images_inside_a_root_are_refused(roots):
    media, outside = roots
    img1 = media / "seq" / "img1"
    img1.mkdir(parents=True)
    for name in sorted(os.listdir(outside / "seq" / "img1")):
        (img1 / name).symlink_to(outside / "seq" / "img1" / name)
    with pytest.raises(SourceNotFoundError, match="'000001.jpg' resolves outside") as err:
        open_source(_api_camera(media / "seq", media))
    assert str(outside) not in str(err.value)


def test_an_image_swapped_for_a_symlink_after_opening_is_refused(roots):
    media, outside = roots
    img1 = write_image_sequence(media / "seq", n=3)
    source = open_source(_api_camera(media / "seq", media))
    assert source.grab() and source.retrieve() is not None
    (img1 / "000002.jpg").unlink()
    (img1 / "000002.jpg").symlink_to(outside / "seq" / "img1" / "000002.jpg")
    assert source.grab()
    with pytest.raises(SourceNotFoundError, match="'000002.jpg' resolves outside"):
        source.retrieve()


def test_a_confined_video_file_is_checked_when_opened(roots):
    media, outside = roots
    (media / "clip.mp4").symlink_to(outside / "clip.mp4")
    confined = CameraConfig(id="x", url=str(media / "clip.mp4"),
                            source={"confine_to": [str(media)]})
    with pytest.raises(SourceNotFoundError, match="'clip.mp4' resolves outside"):
        open_source(confined)


# -- no port oracle ----------------------------------------------------------------------
def test_a_camera_that_does_not_open_says_nothing_about_the_port(caplog):
    listening = socket.create_server(("127.0.0.1", 0))  # accepts, never speaks RTSP
    urls = {"open": f"rtsp://127.0.0.1:{listening.getsockname()[1]}/x",
            "closed": f"rtsp://127.0.0.1:{free_port()}/x"}
    reasons = {}
    with listening, caplog.at_level(logging.WARNING, logger="pipeline.ingest.source"):
        for port, url in urls.items():
            api = check_api_source(CameraConfig(id="x", url=url.replace("127.0.0.1", "192.0.2.1"),
                                                source={"open_timeout_s": 1}), ())
            operator = CameraConfig(id="x", url=url, source={"open_timeout_s": 1})
            for who, cam in (("api", api.model_copy(update={"url": url})),
                             ("config", operator)):
                with pytest.raises(SourceOpenError) as err:
                    open_source(cam)
                reasons[who, port] = err.value.reason
    # the same reason for an open and a closed port, from the API or the config file
    assert set(reasons.values()) == {UNDIAGNOSED}, reasons
    # the operator's own cameras are diagnosed in their log; the API's are never probed
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert "accepts connections" in said[0] and "refused" in said[1], said


# -- pixel geometry against the frame, before frames flow --------------------------------
def test_pixel_geometry_outside_the_frame_fails_the_camera_before_any_frame(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=6, width=320, height=240)
    line = {"id": "door", "start": [10, 10], "end": [10, 264], "units": "pixel"}
    config = CameraConfig(id="cam", url=str(clip), mode="offline", lines=[line])
    stats = asyncio.run(asyncio.wait_for(CameraIngest(config, InputSpec(64, 48)).run(), 30))
    assert stats.state == "failed"
    assert "lines[0]: line 'door': point (10, 264) lies outside the 320x240 frame" in stats.reason
    assert stats.frames_decoded == 0
    fits = config.model_copy(update={"lines": (config.lines[0].model_copy(
        update={"end": (10.0, 240.0)}),)})
    stats = asyncio.run(asyncio.wait_for(CameraIngest(fits, InputSpec(64, 48)).run(), 30))
    assert stats.state == "ended" and stats.frames_decoded == 6
