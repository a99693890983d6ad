"""Why a network camera did not open: one TCP connection to its host and port, and for
RTSP one ``DESCRIBE`` (:mod:`pipeline.ingest.rtsp_probe`: a wrong path, 404, from wrong
or missing credentials, 401).

A camera that does not open gets :data:`UNDIAGNOSED` as its reason (shown by the status
table and the runtime API), whoever added it: no read can be used to learn which ports of
which hosts accept connections. Only cameras from the operator's config file are
diagnosed (``source.diagnose``), and the diagnosis goes to the camera's log.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from pipeline.ingest.rtsp_probe import RtspAnswer, describe

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
UNDIAGNOSED = ("FFmpeg could not open the stream (host unreachable, nothing listening, wrong "
               "path or credentials, or an unsupported codec)")
"""The reason given for a network camera that did not open."""


def diagnose_network(url: str, timeout_s: float) -> str:
    """Why a network URL may not open: DNS, refused, unreachable, or reachable.

    Makes one TCP connection attempt to the URL's host and port. The text names host and
    port, never credentials.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return "the URL is malformed"
    if not host or not port:
        return "the URL has no host"
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        return f"host name {host!r} does not resolve"
    except ConnectionRefusedError:
        return f"connection to {where} refused (nothing listening)"
    except TimeoutError:
        return f"no answer from {where} within {timeout_s:g} s (host down or firewalled)"
    except OSError as exc:
        return f"cannot reach {where} ({exc.strerror or exc})"
    if parts.scheme.lower() == "rtsp":
        answer = describe(url, timeout_s)
        if answer is not None:
            return rtsp_reason(where, parts.path or "/", answer)
    return (f"{where} accepts connections but FFmpeg could not open the stream "
            "(wrong path or credentials, or an unsupported codec)")


def rtsp_reason(where: str, path: str, answer: RtspAnswer) -> str:
    """What the RTSP server's answer to ``DESCRIBE`` says of a stream that did not open."""
    said = f"RTSP {answer.status} {answer.reason}".strip()
    if answer.status == 401:
        return (f"{where} refused the URL's credentials ({said})" if answer.with_credentials
                else f"{where} asks for credentials and the URL has none ({said})")
    if answer.status == 404:
        return f"{where} has no stream at path {path!r} ({said})"
    if answer.status == 200:
        return (f"{where} describes the stream ({said}) but FFmpeg could not open it "
                "(an unsupported codec, or its media port is blocked)")
    if answer.status == 503:
        return f"{where} is busy ({said}): it may serve no more clients at once"
    return f"{where} answered {said}"


