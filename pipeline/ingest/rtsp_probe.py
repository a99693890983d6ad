"""What an RTSP camera answers to ``DESCRIBE``: tells a wrong path (404) from wrong or
missing credentials (401), which FFmpeg reports alike ("could not open").

One request on one TCP connection, then, when the camera asks for credentials and the
URL has them, once more with them (Basic or Digest, RFC 2617, as cameras use). Only the
status line is read (at most :data:`MAX_RESPONSE_BYTES`), never the stream. Used by the
diagnosis of a config-file camera that did not open (:mod:`pipeline.ingest.diagnose`);
nothing it returns holds the credentials.

Example:
    >>> digest_response("Mufasa", "Circle Of Life", "testrealm@host.com", "GET",
    ...                 "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth",
    ...                 "00000001", "0a4f113b")
    '6629fae49393a05397450978507c4ef1'
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

MAX_RESPONSE_BYTES = 16_384
"""Most bytes of a response read for its status line and headers."""
BUSY_RETRY_S = 0.5
"""Pause before the one retry of a ``DESCRIBE`` answered 503 Service Unavailable (s): a
server answers so while it tears down the media of a client that just left."""
_STATUS = re.compile(rb"^RTSP/1\.\d (\d{3}) ?([^\r\n]*)")
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


@dataclass(frozen=True)
class RtspAnswer:
    """The camera's answer to ``DESCRIBE``: its status code and reason phrase, and
    whether the URL's credentials were sent (``with_credentials``)."""

    status: int
    reason: str
    with_credentials: bool


def describe(url: str, timeout_s: float) -> RtspAnswer | None:
    """The answer of the RTSP server at ``url`` to ``DESCRIBE`` (credentials sent only
    when it asks for them), or None when nothing there answers RTSP within
    ``timeout_s`` per exchange. A 503 (busy) answer is asked again once, after
    :data:`BUSY_RETRY_S`."""
    answer = _describe_once(url, timeout_s)
    if answer is not None and answer.status == 503:
        time.sleep(BUSY_RETRY_S)
        answer = _describe_once(url, timeout_s)
    return answer


def _describe_once(url: str, timeout_s: float) -> RtspAnswer | None:
    parts = urlsplit(url)
    target = _without_credentials(parts)
    first = _exchange(parts, target, None, timeout_s)
    if first is None:
        return None
    status, reason, challenge = first
    if status != 401 or not parts.username or not challenge:
        return RtspAnswer(status, reason, False)
    auth = _authorization(challenge, unquote(parts.username), unquote(parts.password or ""),
                          target)
    if auth is None:
        return RtspAnswer(status, reason, False)
    second = _exchange(parts, target, auth, timeout_s)
    return None if second is None else RtspAnswer(second[0], second[1], True)


def digest_response(user: str, password: str, realm: str, method: str, uri: str,
                    nonce: str, qop: str | None = None, nc: str = "00000001",
                    cnonce: str = "") -> str:
    """The ``response`` of an RFC 2617 Digest authorization (MD5)."""
    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    if qop:
        return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5(f"{ha1}:{nonce}:{ha2}")


def _without_credentials(parts: SplitResult) -> str:
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc, fragment="").geturl()


def _exchange(parts: SplitResult, target: str, auth: str | None,
              timeout_s: float) -> tuple[int, str, str] | None:
    """Sends one DESCRIBE; returns (status, reason, WWW-Authenticate) or None."""
    request = (f"DESCRIBE {target} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
               f"User-Agent: panoray-diagnosis\r\n"
               + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n")
    try:
        with socket.create_connection((parts.hostname, parts.port or 554),
                                      timeout=timeout_s) as sock:
            sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data and len(data) < MAX_RESPONSE_BYTES:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except (OSError, ValueError):
        return None
    status = _STATUS.match(data)
    if status is None:
        return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    challenges = [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
                  if line.lower().startswith("www-authenticate:")]
    digest = [c for c in challenges if c.lower().startswith("digest")]
    return (int(status[1]), status[2].decode("latin-1").strip()[:80],
            (digest or challenges or [""])[0])


def _authorization(challenge: str, user: str, password: str, uri: str) -> str | None:
    """The Authorization header answering ``challenge`` (Basic or Digest), or None for
    a scheme this probe does not speak."""
    scheme = challenge.split(None, 1)[0].lower()
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if scheme != "digest":
        return None
    params = {k.lower(): a or b for k, a, b in _PARAM.findall(challenge)}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    qop = "auth" if "auth" in params.get("qop", "").split(",") else None
    cnonce = secrets.token_hex(8)
    response = digest_response(user, password, realm, "DESCRIBE", uri, nonce, qop,
                               cnonce=cnonce)
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
              f'response="{response}"']
    if qop:
        fields += [f"qop={qop}", "nc=00000001", f'cnonce="{cnonce}"']
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)
