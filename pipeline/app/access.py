"""Who may call the runtime API, and what a camera added through it may read.

- Endpoints that change state (adding and removing cameras) need the bearer token when
  one is configured, and without one are open on a loopback address only; reads need it
  only with ``http.protect_reads`` (:func:`authorize`, checked by the :data:`READ` and
  :data:`CHANGE` route dependencies). Tokens are compared in constant time.
- Cameras in the config file are the operator's; a camera posted to ``POST /v1/cameras``
  comes from whoever holds the token, so its source is checked
  (:func:`check_api_source`): network URLs to allowed hosts pass (held to that host: no
  redirect, no playlist), files only under ``http.media_roots``, never devices or
  playlists.

Example:
    >>> cam = CameraConfig(id="door", url="rtsp://viewer:hunter2@10.0.0.5/live")
    >>> check_api_source(cam, media_roots=()).url == cam.url      # network URLs pass
    True
"""

# No `from __future__ import annotations`: FastAPI reads the route dependency's `Request`
# annotation at run time (Serve pickles the dependency by value).

import hmac
import os
import re
import pathlib
from collections.abc import Callable, Sequence

from fastapi import Depends, HTTPException, Request

from pipeline.app.egress import host_refusal, resolve_host
from pipeline.errors import SourceNotAllowedError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.confine import within
from pipeline.redact import split_url
from pipeline.http_config import HttpConfig, is_loopback

AUTH_REALM = 'Bearer realm="panoray"'
BEARER_MISSING = "this endpoint needs the API token: send 'Authorization: Bearer <token>'"
BEARER_INVALID = "the bearer token is not valid"


def check_bearer(header: str | None, token: bytes) -> str | None:
    """Checks an ``Authorization`` header against the token in constant time.

    Returns:
        None when it carries the token, else :data:`BEARER_MISSING` or
        :data:`BEARER_INVALID` (the 401 response's message).
    """
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return BEARER_MISSING
    if not hmac.compare_digest(value.strip().encode(), token):
        return BEARER_INVALID
    return None


def authorize(
    http: HttpConfig, header: str | None, changes_state: bool
) -> tuple[int, str, dict[str, str]] | None:
    """Whether a runtime API call may go on.

    Args:
        http: the API's config, its token resolved (``with_resolved_token``).
        header: the request's ``Authorization`` header, if any.
        changes_state: the endpoint adds or removes cameras.

    Returns:
        None to go on, else (status, message, headers) of the refusal: 401 with a
        ``WWW-Authenticate: Bearer`` challenge for a missing or wrong token, 403 for a
        state change on a non-loopback address without a configured token.
    """
    if not changes_state and not http.protect_reads:
        return None
    if http.token is None:
        if changes_state and not http.loopback:
            return (403, "changing the pipeline is disabled: the API listens on a non-loopback "
                    "address and no token is configured (http.token_env)", {})
        return None
    why = check_bearer(header, http.token.get_secret_value().encode())
    if why is None:
        return None
    challenge = AUTH_REALM if why == BEARER_MISSING else f'{AUTH_REALM}, error="invalid_token"'
    return 401, why, {"WWW-Authenticate": challenge}


def _access(changes_state: bool) -> Callable[[Request], None]:
    """A FastAPI dependency that refuses (401 or 403) a caller :func:`authorize` refuses."""

    def check(request: Request) -> None:
        refusal = authorize(request.app.state.http, request.headers.get("authorization"),
                            changes_state)
        if refusal is not None:
            raise HTTPException(*refusal)

    return check


READ = [Depends(_access(changes_state=False))]
"""Dependencies of the read endpoints: the token only with ``http.protect_reads``."""
CHANGE = [Depends(_access(changes_state=True))]
"""Dependencies of the endpoints that add or remove cameras: the token when configured."""


NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
"""URL schemes a camera added through the API may use without a media root."""

PLAYLIST_SUFFIXES = frozenset({".m3u", ".m3u8", ".ffconcat", ".concat", ".sdp", ".txt"})
"""File types that make FFmpeg open further files or addresses named inside them; an API
caller could reach past the media roots with one, so they are refused."""


def check_api_source(
    camera: CameraConfig,
    media_roots: Sequence[pathlib.Path],
    allowed_hosts: Sequence[str] = ("*",),
    resolve: Callable[[str], list[str]] = resolve_host,
) -> CameraConfig:
    """Checks that a camera added through the API reads only what it may.

    Network URLs (``rtsp``, ``rtsps``, ``http``, ``https``) pass when their host is allowed
    (:func:`~pipeline.app.egress.host_refusal`) and they hold no white space or control
    character (two parsers could read two hosts); the camera then never probes its host
    to explain a failure (``source.diagnose`` off), and an HTTP stream follows no redirect
    and reads no playlist (``source.only_its_address``). A file or image folder passes when its
    real path (symlinks and ``..`` resolved) lies under one of ``media_roots``; the
    returned camera names that real path and is confined to the roots
    (``source.confine_to``), so every file it opens later is checked again. Devices, other
    schemes and playlists are refused. Messages never show the server's resolved paths.

    Args:
        camera: the camera as posted.
        media_roots: the configured ``http.media_roots``.
        allowed_hosts: the configured ``http.allowed_hosts``.
        resolve: host name resolution.

    Returns:
        The camera, restricted as above.

    Raises:
        SourceNotAllowedError: with the reason.
    """
    url = camera.url
    if isinstance(url, int) or camera.source.kind == "usb":
        raise SourceNotAllowedError(
            "local capture devices cannot be added through the API; add them to the "
            "config file"
        )
    text = url.strip()
    parts = split_url(text)
    if parts is not None:
        scheme = parts.head[:-3].lower()
        if scheme in NETWORK_SCHEMES:
            if any(c.isspace() or not c.isprintable() for c in text):
                raise SourceNotAllowedError(
                    "camera URL refused: it holds white space or a control character "
                    "(percent-encode it)")
            host = _host_of(parts.rest)
            if host != _host_of(_authority_host(text)):
                raise SourceNotAllowedError(
                    "camera URL refused: its user part holds '/', '?' or '#', so FFmpeg "
                    "would read another host than the one checked (percent-encode them)")
            why = host_refusal(host, allowed_hosts, resolve)
            if why is not None:
                raise SourceNotAllowedError(f"camera URL refused: {why}")
            source = camera.source.model_copy(update={"diagnose": False,
                                                      "only_its_address": True})
            return camera.model_copy(update={"url": text, "source": source})
        if scheme != "file":
            raise SourceNotAllowedError(
                f"URL scheme {scheme!r} is not allowed; use {', '.join(NETWORK_SCHEMES)}, "
                "or a file under http.media_roots"
            )
        text = text.split("://", 1)[1]
    path = pathlib.Path(text)
    if not path.is_absolute():  # not echoed: 'rtsp:/user:pass@host' is not a URL here
        raise SourceNotAllowedError(
            f"the camera source is neither a URL ({', '.join(NETWORK_SCHEMES)}, with "
            "'://') nor an absolute file path")
    if not media_roots:
        raise SourceNotAllowedError(
            "files cannot be added through the API: http.media_roots is empty; use a "
            f"network URL ({', '.join(NETWORK_SCHEMES)})"
        )
    real = pathlib.Path(os.path.realpath(path))
    roots = [os.path.realpath(r) for r in media_roots]
    if not within(real, roots):
        raise SourceNotAllowedError(f"{str(path)!r} is outside http.media_roots")
    if real.suffix.lower() in PLAYLIST_SUFFIXES:
        raise SourceNotAllowedError(
            f"{str(path)!r} is a playlist ({real.suffix}); FFmpeg would open the files it "
            "names, so only media files and image folders may be added"
        )
    if not real.exists():
        raise SourceNotAllowedError(f"{str(path)!r} does not exist")
    source = camera.source.model_copy(update={"confine_to": tuple(roots)})
    return camera.model_copy(update={"url": str(real), "source": source})


def _authority_host(url: str) -> str:
    """What follows the user part of ``url``'s authority as URL parsers (and FFmpeg) cut
    it: the authority ends at the first '/', '?' or '#'."""
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    return authority.rsplit("@", 1)[-1]


def _host_of(authority_and_path: str) -> str:
    """The host of ``host[:port]/path`` (IPv6 in brackets kept whole)."""
    authority = authority_and_path.split("/", 1)[0]
    if authority.startswith("["):
        return authority[:authority.find("]") + 1] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


LOOPBACK_NAMES = frozenset({"localhost"})


def host_header_refusal(http: HttpConfig, header: str | None) -> str | None:
    """Why a request's ``Host`` header is refused, or None.

    On a loopback address only this machine's names pass (``localhost``, loopback IPs,
    ``http.host``) and ``http.allowed_host_headers``: a page whose domain was rebound to
    127.0.0.1 sends its own name, and is refused. Other addresses are not checked.
    """
    if not http.loopback:
        return None
    value = (header or "").strip().lower()
    if value.startswith("["):
        name = value[1:value.find("]")] if "]" in value else value
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    names = {*LOOPBACK_NAMES, http.host.lower(), *(h.lower() for h in http.allowed_host_headers)}
    if name in names or (name and is_loopback(name)):
        return None
    return (f"Host {value[:100]!r} is not a name of this server; the API on a loopback "
            "address answers only requests for localhost (add other names to "
            "http.allowed_host_headers)")
