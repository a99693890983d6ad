"""The Digest answer the RTSP diagnosis sends (RFC 2617's own example), and that a
camera asking for an unknown scheme gets no credentials."""

from __future__ import annotations

import re

from pipeline.ingest.rtsp_probe import _authorization, digest_response


def test_rfc_2617_example() -> None:
    assert digest_response("Mufasa", "Circle Of Life", "testrealm@host.com", "GET",
                           "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth",
                           "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_a_digest_challenge_gets_its_answer() -> None:
    uri = "rtsp://10.0.0.9:554/Streaming/Channels/101"
    header = _authorization('Digest realm="IP Camera", nonce="abc123", qop="auth"',
                            "admin", "pw", uri)
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header.removeprefix("Digest ")))
    assert (fields["username"], fields["realm"], fields["uri"]) == ("admin", "IP Camera", uri)
    assert fields["response"] == digest_response("admin", "pw", "IP Camera", "DESCRIBE", uri,
                                                 "abc123", "auth", cnonce=fields["cnonce"])
    plain = _authorization('Digest realm="r", nonce="n"', "admin", "pw", uri)
    assert "qop" not in plain and digest_response("admin", "pw", "r", "DESCRIBE", uri,
                                                  "n") in plain


def test_basic_and_unknown_schemes() -> None:
    assert _authorization('Basic realm="x"', "bob", "pw", "rtsp://h/x") == "Basic Ym9iOnB3"
    assert _authorization("Negotiate", "bob", "pw", "rtsp://h/x") is None


def test_a_busy_camera_is_told_from_other_answers() -> None:
    from pipeline.ingest.diagnose import rtsp_reason
    from pipeline.ingest.rtsp_probe import RtspAnswer

    busy = rtsp_reason("cam:554", "/s", RtspAnswer(503, "Service Unavailable", True))
    other = rtsp_reason("cam:554", "/s", RtspAnswer(500, "Internal Server Error", True))
    assert busy == ("cam:554 is busy (RTSP 503 Service Unavailable): it may serve no more "
                    "clients at once")
    assert other == "cam:554 answered RTSP 500 Internal Server Error"
