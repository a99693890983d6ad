"""Why an RTSP camera did not open, against the real GStreamer RTSP server with Basic
auth: a wrong password, missing credentials and a wrong path each get their own reason
(FFmpeg says "could not open" for all three), and no reason holds the password."""

from __future__ import annotations

import pytest

from pipeline.ingest.diagnose import diagnose_network
from pipeline.ingest.rtsp_probe import describe
from tests.conftest import free_port
from tests.rtsp_helpers import SECRET, require_rtsp_server, start_rtsp_server, stop_process


@pytest.fixture(scope="module")
def rtsp_port():
    require_rtsp_server()
    port = free_port()
    server = start_rtsp_server(port)
    yield port
    stop_process(server)


@pytest.mark.parametrize(("userinfo", "path", "expected"), [
    ("bob:wrong-Pw@", "/cam", "refused the URL's credentials (RTSP 401 Unauthorized)"),
    ("", "/cam", "asks for credentials and the URL has none (RTSP 401 Unauthorized)"),
    (f"bob:{SECRET}@", "/nope", "has no stream at path '/nope' (RTSP 404 Not Found)"),
    (f"bob:{SECRET}@", "/cam", "describes the stream (RTSP 200 OK) but FFmpeg could not"),
])
def test_each_reason_is_told_apart(rtsp_port: int, userinfo: str, path: str,
                                   expected: str) -> None:
    reason = diagnose_network(f"rtsp://{userinfo}127.0.0.1:{rtsp_port}{path}", 5.0)
    assert reason.startswith(f"127.0.0.1:{rtsp_port} ") and expected in reason, reason
    assert SECRET not in reason and "wrong-Pw" not in reason


def test_credentials_are_sent_only_when_asked_for(rtsp_port: int) -> None:
    answer = describe(f"rtsp://bob:{SECRET}@127.0.0.1:{rtsp_port}/cam", 5.0)
    assert answer is not None and (answer.status, answer.with_credentials) == (200, True)


def test_back_to_back_asks_all_get_the_stream(rtsp_port: int) -> None:
    """The server answers 503 while it tears down the last client's media (about one
    ask in two, back to back): the probe asks again rather than report a busy camera."""
    answers = [describe(f"rtsp://bob:{SECRET}@127.0.0.1:{rtsp_port}/cam", 5.0)
               for _ in range(12)]
    assert [a.status if a else None for a in answers] == [200] * 12


def test_a_server_that_is_not_rtsp_gets_the_plain_reason() -> None:
    from tests.images import astronaut_rgb, encode
    from tests.mjpeg_server import MjpegServer

    with MjpegServer([encode(astronaut_rgb())]).start() as server:
        port = server.url.split(":")[2].split("/")[0]
        reason = diagnose_network(f"rtsp://127.0.0.1:{port}/cam", 2.0)
    assert "accepts connections but FFmpeg could not open" in reason, reason
