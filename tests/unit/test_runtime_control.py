"""The runtime API's rules without Ray: tokens, exposure, media roots, bearer checks,
counters across camera restarts and the timeline splice."""

import dataclasses
import math
import os

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.app.access import (
    BEARER_INVALID,
    BEARER_MISSING,
    authorize,
    check_api_source,
    check_bearer,
)
from pipeline.config import validation_message
from pipeline.control.records import CameraRecord, least_loaded, lost_stats
from pipeline.control.views import json_safe
from pipeline.errors import ConfigError, SourceNotAllowedError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraStats
from pipeline.http_config import HttpConfig, is_loopback
from pipeline.tracking.splice import MediaSplice
from pipeline.types import FrameMeta

TOKEN = "t0k3n-" + "x" * 20
PASSWORD = "s3cr3tpass"


# -- HttpConfig: tokens and exposure ------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "env", "message"),
    [
        ({"host": "0.0.0.0"}, {}, "http.host: the runtime API would listen on '0.0.0.0', which "
         "is not a loopback address, without a token"),
        ({"host": "192.168.1.20"}, {}, "not a loopback address"),
        ({"host": "camera-box.local"}, {}, "not a loopback address"),
        ({"token_env": "PANORAY_TEST_TOKEN"}, {}, "http.token_env: environment variable "
         "PANORAY_TEST_TOKEN is not set or empty"),
        ({"token_env": "PANORAY_TEST_TOKEN"}, {"PANORAY_TEST_TOKEN": "  "}, "is not set or empty"),
        ({"token_env": "PANORAY_TEST_TOKEN", "host": "0.0.0.0"},
         {"PANORAY_TEST_TOKEN": "short"}, "http.token_env: the token in $PANORAY_TEST_TOKEN is "
         "5 characters; use at least 16"),
    ],
)
def test_exposure_and_token_errors_at_startup(monkeypatch, fields, env, message):
    monkeypatch.delenv("PANORAY_TEST_TOKEN", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        HttpConfig(**fields).check_exposure()
    assert message in str(err.value)
    assert "short" not in str(err.value)  # the token itself never appears


@pytest.mark.parametrize(
    ("fields", "env"),
    [
        ({}, {}),  # loopback without a token: open to this machine only
        ({"host": "::1"}, {}),
        ({"host": "localhost"}, {}),
        ({"host": "0.0.0.0", "token": TOKEN}, {}),
        ({"host": "0.0.0.0", "token_env": "PANORAY_TEST_TOKEN"}, {"PANORAY_TEST_TOKEN": TOKEN}),
    ],
)
def test_exposure_accepted(monkeypatch, fields, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    HttpConfig(**fields).check_exposure()


def test_token_from_env_is_resolved_for_the_replica(monkeypatch):
    monkeypatch.setenv("PANORAY_TEST_TOKEN", TOKEN)
    resolved = HttpConfig(token_env="PANORAY_TEST_TOKEN").with_resolved_token()
    assert resolved.token.get_secret_value() == TOKEN and resolved.token_env is None
    assert TOKEN not in repr(resolved) and TOKEN not in str(resolved.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "short"}, "token is 5 characters; use at least 16"),
        ({"token": TOKEN, "token_env": "X"}, "set either token or token_env, not both"),
        ({"token_env": "1BAD"}, "String should match pattern"),
    ],
)
def test_token_config_errors(fields, message):
    with pytest.raises(ValidationError) as err:
        HttpConfig(**fields)
    assert message in str(err.value)
    assert "short" not in str(err.value).replace(message, "")  # input is not echoed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("example.org", False)],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


# -- bearer -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "result"),
    [
        (f"Bearer {TOKEN}", None),
        (f"bearer   {TOKEN}  ", None),
        (None, BEARER_MISSING),
        ("", BEARER_MISSING),
        ("Bearer", BEARER_MISSING),
        (f"Basic {TOKEN}", BEARER_MISSING),
        ("Bearer wrong", BEARER_INVALID),
        (f"Bearer {TOKEN}x", BEARER_INVALID),
        (f"Bearer {TOKEN[:-1]}", BEARER_INVALID),
    ],
)
def test_check_bearer(header, result):
    assert check_bearer(header, TOKEN.encode()) == result


CHALLENGE = 'Bearer realm="panoray"'


@pytest.mark.parametrize(
    ("http", "header", "changes_state", "expected"),
    [
        ({"token": TOKEN}, None, False, None),  # reads are open by default
        ({"token": TOKEN}, None, True, (401, BEARER_MISSING, {"WWW-Authenticate": CHALLENGE})),
        ({"token": TOKEN}, "Bearer nope", True,
         (401, BEARER_INVALID, {"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'})),
        ({"token": TOKEN}, f"Bearer {TOKEN}", True, None),
        ({"token": TOKEN, "protect_reads": True}, None, False,
         (401, BEARER_MISSING, {"WWW-Authenticate": CHALLENGE})),
        ({"token": TOKEN, "protect_reads": True}, f"Bearer {TOKEN}", False, None),
        ({}, None, True, None),  # loopback without a token: this machine may change state
        ({"host": "0.0.0.0"}, None, False, None),
        ({"host": "0.0.0.0"}, f"Bearer {TOKEN}", True,
         (403, "changing the pipeline is disabled: the API listens on a non-loopback address "
          "and no token is configured (http.token_env)", {})),
    ],
)
def test_authorize(http, header, changes_state, expected):
    assert authorize(HttpConfig(**http), header, changes_state) == expected


# -- media roots --------------------------------------------------------------------------
@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "clip.mp4").write_bytes(b"x")
    (root / "list.m3u8").write_text("file:///etc/passwd\n")
    (tmp_path / "outside.mp4").write_bytes(b"x")
    (root / "escape.mp4").symlink_to(tmp_path / "outside.mp4")
    (root / "inner-link.mp4").symlink_to(root / "sub" / "clip.mp4")
    return root


def _cam(url, **kw):
    return CameraConfig(id="api-cam", url=url, **kw)


@pytest.mark.parametrize(
    ("url", "kw", "message"),
    [
        ("{outside}", {}, "'{outside}' is outside http.media_roots"),
        ("{root}/../outside.mp4", {}, "'{root}/../outside.mp4' is outside http.media_roots"),
        ("{root}/escape.mp4", {}, "'{root}/escape.mp4' is outside http.media_roots"),
        ("file://{outside}", {}, "is outside http.media_roots"),
        ("clip.mp4", {}, "neither a URL (rtsp, rtsps, http, https, with '://') nor an "
                         "absolute file path"),
        # not a URL ('://' missing): refused without echoing its password
        ("rtsp:/bob:s3cretPW@10.0.0.5/x", {}, "nor an absolute file path"),
        ("rtsp://bob:s3cretPW@10.0.0.5 /x", {}, "holds white space or a control character"),
        # the host checked must be the one FFmpeg reads: the authority ends at the first '/'
        ("http:///x@192.0.2.2:18080/cam.mjpg", {}, "would read another host than the one"),
        ("rtsp:///bob:s3cretPW@10.0.0.5/x", {}, "would read another host than the one"),
        ("rtsp://127.0.0.1/a@10.0.0.5/x", {}, "would read another host than the one"),
        (0, {}, "local capture devices cannot be added through the API"),
        ("/dev/video0", {"source": {"kind": "usb"}}, "local capture devices cannot be added"),
        ("ftp://host/clip.mp4", {},
         "URL scheme 'ftp' is not allowed; use rtsp, rtsps, http, https"),
        ("concat:{root}/sub/clip.mp4|/etc/passwd", {}, "nor an absolute file path"),
        ("{root}/list.m3u8", {}, "is a playlist (.m3u8)"),
        ("{root}/nope.mp4", {}, "'{root}/nope.mp4' does not exist"),
    ],
)
def test_api_sources_refused(media, url, kw, message):
    fill = {"root": media, "outside": media.parent / "outside.mp4"}
    url = url.format(**fill) if isinstance(url, str) else url
    with pytest.raises(SourceNotAllowedError) as err:
        check_api_source(_cam(url, **kw), [media])
    assert message.format(**fill) in str(err.value)
    assert "s3cretPW" not in str(err.value)
    assert err.value.field == "url"
    if "escape" in str(url) or ".." in str(url):  # never the path it resolves to, nor the roots
        assert str(fill["outside"]) not in str(err.value) and "allowed" not in str(err.value)


def test_files_refused_without_media_roots(media):
    with pytest.raises(SourceNotAllowedError, match="http.media_roots is empty"):
        check_api_source(_cam(str(media / "sub" / "clip.mp4")), [])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("{root}/sub/clip.mp4", "{root}/sub/clip.mp4"),
        ("{root}/sub/../sub/clip.mp4", "{root}/sub/clip.mp4"),
        ("{root}/inner-link.mp4", "{root}/sub/clip.mp4"),  # a link within the roots
        ("file://{root}/sub/clip.mp4", "{root}/sub/clip.mp4"),
        ("{root}/sub", "{root}/sub"),  # an image folder
        (f"rtsp://user:{PASSWORD}@10.0.0.5/live", f"rtsp://user:{PASSWORD}@10.0.0.5/live"),
        ("https://cams.example.org/mjpeg", "https://cams.example.org/mjpeg"),
    ],
)
def test_api_sources_accepted_and_resolved(media, url, expected):
    real = os.path.realpath(media)
    cam = check_api_source(_cam(url.format(root=media)), [media],
                           resolve=lambda host: ["192.0.2.10"])
    assert cam.url == expected.format(root=real)
    if "://" in expected and not expected.startswith("file"):  # network: never probes,
        # and its own host only (no redirect, no playlist)
        assert cam.source.diagnose is False and cam.source.confine_to == ()
        assert cam.source.only_its_address is True
    else:  # files: every file it opens is checked against the roots
        assert cam.source.confine_to == (real,) and cam.source.diagnose is True


def test_validation_messages_never_echo_the_password():
    with pytest.raises(ValidationError) as err:
        CameraConfig.model_validate({"id": "bad id", "url": f"rtsp://u:{PASSWORD}@h/x",
                                     "source": {"fps": -1}})
    message = validation_message(err.value)
    assert "id: String should match pattern" in message
    assert "source.fps: Input should be greater than 0" in message
    assert PASSWORD not in message and PASSWORD not in str(err.value)


def test_a_cameras_public_dict_is_redacted_json():
    cam = _cam(f"rtsp://user:{PASSWORD}@10.0.0.5/live?token=abc123",
               zones=[{"id": "z", "points": [[0, 0], [1, 0], [1, 1]]}])
    data = cam.public_dict()
    assert data["url"] == "rtsp://user:***@10.0.0.5/live?token=***"
    assert PASSWORD not in str(data) and "abc123" not in str(data)
    assert data["zones"][0]["points"] == [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]


# -- camera records across restarts ------------------------------------------------------
def _stats(state="streaming", **counters):
    return CameraStats("c", "u", "file", state, "", 0.0, "", 0.0, counters.pop("reconnects", 0),
                       5.0, **counters)


def test_counters_add_up_over_restarts():
    rec = CameraRecord(_cam("rtsp://h/x"), "config")
    rec.last = rec.total(_stats(frames_decoded=100, frames_delivered=98, reconnects=2))
    rec.carry_over()  # the actor died
    total = rec.total(_stats(frames_decoded=10, frames_delivered=9))
    assert (total.frames_decoded, total.frames_delivered, total.reconnects) == (110, 107, 2)
    rec.last = total
    rec.carry_over()  # and died again
    again = rec.total(_stats(frames_decoded=1, frames_delivered=1))
    assert (again.frames_decoded, again.frames_delivered) == (111, 108)


@pytest.mark.parametrize(
    ("last_state", "restarts", "limit", "expected"),
    [
        ("streaming", 0, None, True),
        ("reconnecting", 5, None, True),
        ("streaming", 2, 3, True),
        ("streaming", 3, 3, False),
        ("ended", 0, None, False),  # a finished file is not restarted
        ("stopped", 0, None, False),
        (None, 0, 0, False),
    ],
)
def test_needs_restart(last_state, restarts, limit, expected):
    rec = CameraRecord(_cam("rtsp://h/x"), "config", restarts=restarts)
    rec.last = _stats(last_state) if last_state else None
    assert rec.needs_restart(limit) is expected


def test_lost_stats_keep_the_counters_and_say_why():
    rec = CameraRecord(_cam(f"rtsp://u:{PASSWORD}@h/x"), "api")
    s = lost_stats(rec, "camera actor died (node lost?); re-creating it")
    assert s.state == "reconnecting" and s.url == "rtsp://u:***@h/x"
    rec.last = _stats(frames_delivered=7)
    s = lost_stats(rec, "gone")
    assert (s.state, s.reason, s.frames_delivered, s.fps) == ("reconnecting", "gone", 7, 0.0)
    rec.lost = "camera actor died after 3 restart(s); not re-created"
    assert lost_stats(rec, rec.lost).state == "failed"


def test_cameras_go_to_the_least_loaded_host():
    hosts = ["tracker-0", "tracker-1", "tracker-2"]  # stand-ins for actor handles
    recs = [CameraRecord(_cam("rtsp://h/x"), "config", tracker=hosts[i]) for i in (0, 0, 1)]
    assert least_loaded(recs, hosts, "tracker") == "tracker-2"
    assert least_loaded(recs[:2], hosts[:2], "tracker") == "tracker-1"
    assert least_loaded([], hosts[:2], "tracker") == "tracker-0"
    assert least_loaded(recs, ["agg-0"], "aggregator") == "agg-0"


def test_json_safe():
    assert json_safe({"a": math.nan, "b": (1.0, math.inf), "c": {"d": 2}}) == {
        "a": None, "b": [1.0, None], "c": {"d": 2}}


# -- the timeline splice -----------------------------------------------------------------
def _meta(i, pts, wall):
    return FrameMeta("door", i, pts, wall, 640, 480)


def test_splice_continues_frame_numbers_and_media_time():
    splice = MediaSplice()
    first = [splice.map(_meta(i, i / 10, 1000 + i / 10)) for i in range(5)]
    assert [m.frame_index for m in first] == [0, 1, 2, 3, 4]  # unchanged before a splice
    splice.splice()
    after = [splice.map(_meta(i, i / 10, 1010 + i / 10)) for i in range(3)]
    assert [m.frame_index for m in after] == [5, 6, 7]
    # the first frame comes 10 s of wall time after the last one (0.4 s)
    np.testing.assert_allclose([m.pts_s for m in after], [10.0, 10.1, 10.2], atol=1e-9)
    splice.splice()
    again = splice.map(_meta(0, 0.0, 1010.2))  # wall clock barely moved: the minimum step
    assert again.frame_index == 8 and again.pts_s == pytest.approx(10.2 + splice.min_step_s)


def test_splice_before_any_frame_changes_nothing():
    splice = MediaSplice()
    splice.splice()
    m = _meta(3, 0.3, 5.0)
    assert splice.map(m) == m and dataclasses.is_dataclass(m)


def test_a_splice_after_a_later_frame_goes_on_after_it():
    """A lane saved at frame 4 resumes where downstream already has frame 20 (what came
    between its save and its tracker's end): the new session comes after frame 20."""
    splice = MediaSplice()
    for i in range(5):
        splice.map(_meta(i, i / 10, 1000 + i / 10))
    splice.splice(after=(20, 2.0))  # 1.6 s of media after the lane, at wall 1002.0
    m = splice.map(_meta(0, 0.0, 1001.0))  # wall time alone would say frame 5, 1.0 s
    assert (m.frame_index, m.pts_s) == (21, pytest.approx(2.0 + splice.min_step_s))
    m = splice.map(_meta(1, 0.1, 1001.1))
    assert (m.frame_index, m.pts_s) == (22, pytest.approx(2.1 + splice.min_step_s))
    splice.splice(after=(3, 0.3))  # an earlier frame: the wall-time rule decides
    m = splice.map(_meta(0, 0.0, 1011.1))
    assert m.frame_index == 23 and m.pts_s == pytest.approx(12.1 + splice.min_step_s)


def test_camera_errors_keep_their_message_across_a_ray_call():
    """Ray pickles errors raised in actors: the message must not be wrapped twice."""
    import pickle

    from pipeline.errors import CameraExistsError, UnknownCameraError

    unknown = pickle.loads(pickle.dumps(UnknownCameraError("nope", ["b", "a"])))
    assert str(unknown) == "no camera 'nope'; cameras: ['a', 'b']"
    assert (unknown.camera_id, unknown.known) == ("nope", ["a", "b"])
    exists = pickle.loads(pickle.dumps(CameraExistsError("door")))
    assert exists.camera_id == "door" and str(exists).count("door") == 1


def test_an_error_raised_in_an_actor_reads_as_its_own_message(capsys, monkeypatch):
    """The CLI and the API show an actor's error by its message, never Ray's remote
    traceback with the server's file paths (`panoray run` printed one when a configured
    camera found no room at start-up)."""
    from ray.exceptions import RayTaskError

    from pipeline.app import cli
    from pipeline.errors import PanorayError, error_message

    cause = PanorayError("camera 'good': its actor did not start within 25 s")
    remote = RayTaskError("PipelineController.start", "Traceback (most recent call last):\n"
                          '  File "/srv/panoray/actors/controller_actor.py", line 166\n',
                          cause).as_instanceof_cause()
    assert isinstance(remote, PanorayError)
    assert error_message(remote) == str(cause)

    def fail(args):
        raise remote

    monkeypatch.setattr(cli, "_validate", fail)
    assert cli.main(["validate", "x.yaml"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err == f"panoray: error: {cause}\n"
