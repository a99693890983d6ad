"""The probes of issue 19 against a live HTTP API on real Serve: an attacker's requests
(oversized streamed bodies, a rebound Host, SSRF camera URLs, reads without the token)
and an unlucky client's (a PNG text bomb, deeply nested or NaN JSON).

A second app of the same HttpApi deployment runs beside the session's one, at
``/hardened``, with a token, ``protect_reads`` and a small body limit; no pipeline runs,
so every refusal here happens before the controller would be asked.
"""

from __future__ import annotations

import io
import json
import re
import select
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image, PngImagePlugin

from tests.conftest import run_api_app

pytestmark = pytest.mark.cluster

TOKEN = "hardening-token-" + "z" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 64 * 1024
PREFIX = "/hardened"
TOTAL = 50 * 2**20  # what the client would send if never stopped


@pytest.fixture(scope="module")
def api(serve_app):
    from ray import serve

    from pipeline.site_config import HttpConfig

    http = HttpConfig(port=urlsplit(serve_app["url"]).port, token=TOKEN, protect_reads=True,
                      max_body_bytes=LIMIT)
    yield run_api_app(serve_app, http, "hardened", PREFIX)
    serve.delete("hardened")


def _stream(url: str, path: str, content_type: str, chunks) -> tuple[int, int, bytes]:
    """POSTs a chunked body, one chunk at a time, stopping as soon as the server answers.

    Returns:
        (status, body bytes sent before the answer, response bytes).
    """
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    sock.sendall(f"POST {parts.path}{path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    sent = 0
    try:
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer came
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            time.sleep(0.002)
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    try:
        while not _complete(answer):  # the body may come in a later segment than the head
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1]), sent, answer


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response: its head and content-length bytes."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length[1])


def _chunks(head: bytes = b"", size: int = 16 * 1024):
    if head:
        yield head
    for _ in range(TOTAL // size):
        yield b"\0" * size


def test_a_streamed_raw_body_is_refused_once_it_passes_the_limit(api):
    status, sent, answer = _stream(api, "/v1/detect", "image/jpeg", _chunks())
    assert status == 413, answer
    assert b"exceeds the limit of 65536 bytes" in answer
    assert sent < 4 * 2**20, f"{sent} bytes were sent before the 413"


def test_a_streamed_multipart_body_is_refused_once_it_passes_the_limit(api):
    head = (b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n")
    status, sent, answer = _stream(api, "/v1/detect", "multipart/form-data; boundary=XyZ",
                                   _chunks(head))
    assert status == 413, answer
    assert sent < 4 * 2**20, f"{sent} bytes were sent before the 413"


def test_a_small_multipart_image_within_the_limit_is_detected(api):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(out, "JPEG")
    r = requests.post(f"{api}/v1/detect", files={"image": ("a.jpg", out.getvalue())},
                      timeout=60)
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"]) == (64, 48)


def test_a_png_with_a_huge_text_chunk_is_a_400(api):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "a" * 4 * 2**20, zip=True)
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", pnginfo=info)
    r = requests.post(f"{api}/v1/detect", data=out.getvalue(),
                      headers={"content-type": "image/png"}, timeout=60)
    assert r.status_code == 400, r.text
    assert "not a usable JPEG or PNG image" in r.json()["error"]


ZONE_NAN = '{"id": "x", "url": "rtsp://192.0.2.1/x", "zones": [{"id": "z", "units": "pixel", ' \
           '"points": [[0, 0], [NaN, 5], [9, 9]]}]}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "nested deeper than 32 levels"),
        (ZONE_NAN, "not valid JSON: NaN is not a number JSON allows"),
        (ZONE_NAN.replace("NaN", "Infinity"), "Infinity is not a number JSON allows"),
        (json.dumps({"id": "x", "url": "rtsp://192.0.2.1/x", "lines": [
            {"id": "l", "start": [0.5, 0.5], "end": [0.5, 0.5 + 1e-13]}]}),
         "a line must be at least 0.001 long"),
        (json.dumps({"id": "x", "url": "http://169.254.169.254/latest/meta-data/"}),
         "169.254.169.254 is a link-local address"),
        (json.dumps({"id": "x", "url": "rtsp://127.0.0.1:22/x"}), "127.0.0.1 is a loopback"),
        (json.dumps({"id": "x", "url": "rtsp://u:p@localhost:8265/x"}),
         "resolves to 127.0.0.1 is a loopback address"),
    ],
)
def test_bad_cameras_are_a_400_before_the_pipeline_is_asked(api, body, message):
    r = requests.post(f"{api}/v1/cameras", data=body,
                      headers={**AUTH, "content-type": "application/json"}, timeout=60)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


@pytest.mark.parametrize("path", ["/v1/models", "/v1/detector/stats", "/openapi.json", "/docs",
                                  "/v1/cameras", "/v1/live", "/v1/history", "/v1/dashboard"])
def test_protect_reads_covers_every_get(api, path):
    r = requests.get(f"{api}{path}", timeout=60)
    assert r.status_code == 401, (path, r.status_code, r.text[:200])
    r = requests.get(f"{api}{path}", headers=AUTH, timeout=60)
    assert r.status_code in (200, 503), (path, r.status_code, r.text[:200])  # 503: no pipeline


def test_healthz_stays_open_and_the_docs_work_with_the_token(api):
    assert requests.get(f"{api}/healthz", timeout=30).json()["ready"] is True
    spec = requests.get(f"{api}/openapi.json", headers=AUTH, timeout=30).json()
    assert "/v1/cameras" in spec["paths"] and "/v1/detect" in spec["paths"]
    page = requests.get(f"{api}/docs", headers=AUTH, timeout=30).text
    assert f"{PREFIX}/openapi.json" in page


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000",
                                  "127.0.0.1.attacker.example"])
def test_a_rebound_host_name_is_refused_on_loopback(api, serve_app, host):
    """A page on attacker.example rebinds its name to 127.0.0.1: its requests carry its own
    Host, and are refused before any route, even where no token is configured."""
    for url, headers in ((api, AUTH), (serve_app["url"], {})):
        r = requests.get(f"{url}/v1/cameras", headers={**headers, "Host": host}, timeout=30)
        assert r.status_code == 421, r.text
        assert "is not a name of this server" in r.json()["error"]
        r = requests.post(f"{url}/v1/cameras", json={"id": "x", "url": "rtsp://192.0.2.1/x"},
                          headers={**headers, "Host": host}, timeout=30)
        assert r.status_code == 421, r.text
    port = urlsplit(serve_app["url"]).port
    assert requests.get(f"http://localhost:{port}/healthz", timeout=30).status_code == 200
