"""Keeps camera credentials out of logs, errors, metrics and API responses.

A camera URL may carry a secret in four places: the password (``rtsp://user:pass@host``),
a user-only token (``rtsp://TOKEN@host``, where the whole user part is the secret), a
query value (``...?token=abc``) and the fragment (``...#secret``). :func:`redact_url`
splits the URL into those parts by position, not by a pattern of allowed characters, so
a password holding ``'``, ``/``, ``@`` or ``:`` is masked whole: the user part is
everything between ``://`` and the last ``@`` before the query. :func:`redact_text`
masks every URL inside free text (an OpenCV error that echoes the URL it could not
open), and with the camera's URL given, every literal echo of its secrets.

Example:
    >>> redact_url("rtsp://admin:hunter2@10.0.0.5:554/live?channel=1&token=abc")
    'rtsp://admin:***@10.0.0.5:554/live?channel=1&token=***'
    >>> redact_url("rtsp://Zm9vYmFy/x@cam.local/live#key")
    'rtsp://***@cam.local/live#***'
    >>> redact_text("could not open 'rtsp://admin:it's/me@cam/live'")
    "could not open 'rtsp://admin:***@cam/live'"
    >>> redact_url("rtsp://bob:s3cret@ümlaut.example/x")
    'rtsp://bob:***@ümlaut.example/x'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MASK = "***"

# Query parameter names whose value is masked: exact names, and names containing a word.
SECRET_PARAM_NAMES = frozenset({"pass", "key", "sig", "auth", "pw"})
SECRET_PARAM_WORDS = (
    "password", "passwd", "pwd", "token", "secret", "apikey", "api_key", "signature",
    "credential", "auth",
)
# Secret pieces shorter than this are masked only where they appear in URL syntax, so a
# one-letter password does not mask every occurrence of that letter in a message.
MIN_LITERAL_SECRET = 4

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;\s'\"#]+)=(?P<value>[^&;\s'\"#]*)")


def is_secret_param(name: str) -> bool:
    """True when a query parameter's value should be masked (case-insensitive)."""
    lowered = unquote(name).lower()
    return lowered in SECRET_PARAM_NAMES or any(w in lowered for w in SECRET_PARAM_WORDS)


@dataclass(frozen=True)
class UrlParts:
    """A URL cut at its delimiters (no validation; never raises).

    Attributes:
        head: ``scheme://``.
        user: the user name, or None when there is no user part or it holds no ``:`` (then
            the whole user part is a token, see ``secret``).
        secret: the password, or the whole user part when it has no ``:``; None without one.
        rest: host, port and path.
        query: the query with its ``?``, or "".
        fragment: the fragment without its ``#``, or None when there is none.
    """

    head: str
    user: str | None
    secret: str | None
    rest: str
    query: str
    fragment: str | None


# What may follow the @ that ends a user part: a host and port, in any script and with any
# stray character (a non-ASCII name, a space), up to the path, query or fragment.
_HOST_AFTER_AT = re.compile(r"[^/?#@]*(?=[/?#]|$)")


def split_url(url: str) -> UrlParts | None:
    """Cuts ``url`` (which starts with ``scheme://``) into :class:`UrlParts`; None when it
    does not start with a scheme.

    The user part ends at the last ``@`` followed by something shaped like a host, so a
    password holding ``@``, ``/``, ``?`` or ``#`` is cut whole (an ``@`` in a path or
    query masks too much, never too little).
    """
    m = _SCHEME.match(url)
    if m is None:
        return None
    head, body = m.group(0), url[m.end():]
    user = secret = None
    userinfo = None
    if head.lower() == "file://":  # file:///a@b.mp4 has no user part, file://u:p@/a.mp4 has
        authority = body.split("/", 1)[0]
        if "@" in authority:
            at = authority.rindex("@")
            userinfo, body = body[:at], body[at + 1:]
    else:
        for at in range(len(body) - 1, -1, -1):
            if body[at] == "@" and _HOST_AFTER_AT.match(body, at + 1):
                userinfo, body = body[:at], body[at + 1:]
                break
    if userinfo is not None:
        if ":" in userinfo:
            user, secret = userinfo.split(":", 1)
        else:
            secret = userinfo
    fragment = None
    if "#" in body:
        body, fragment = body.split("#", 1)
    query = ""
    if "?" in body:
        body, query = body.split("?", 1)
        query = "?" + query
    return UrlParts(head, user, secret, body, query, fragment)


def _mask_query(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if is_secret_param(m.group("name")) and m.group("value"):
            return f"{m.group('sep')}{m.group('name')}={MASK}"
        return m.group(0)

    return _QUERY_PARAM.sub(repl, text)


def _redact_parts(parts: UrlParts) -> str:
    out = parts.head
    if parts.user is not None:
        out += f"{parts.user}:{MASK if parts.secret else ''}@"
    elif parts.secret:
        out += f"{MASK}@"
    out += parts.rest + _mask_query(parts.query)
    if parts.fragment is not None:
        out += f"#{MASK}" if parts.fragment else "#"
    return out


def redact_url(url: str | int) -> str:
    """Returns ``url`` with its password, user-only token, secret query values and
    fragment replaced by ``***``.

    The user name (when a password follows it), host, port, path and other parameters
    stay readable. Anything that is not a URL (a file path, a device index) is returned
    unchanged apart from secret-looking ``name=value`` parameters. Never raises.

    Args:
        url: a camera URL, path or device index.
    """
    text = str(url)
    m = _SCHEME.search(text)
    if m is None or text[:m.start()].strip():
        return redact_text(text)
    parts = split_url(text[m.start():])
    assert parts is not None
    return text[:m.start()] + _redact_parts(parts)


def secrets_of(url: str | int) -> list[str]:
    """The secret pieces of ``url`` (password or user-only token, secret query values,
    fragment), raw and percent-decoded, to mask echoes of them outside URL syntax. Never
    raises."""
    text = str(url).strip()
    parts = split_url(text)
    found: list[str] = []
    if parts is not None:
        found += [s for s in (parts.secret, parts.fragment) if s]
        text = parts.query
    for m in _QUERY_PARAM.finditer(text):
        if is_secret_param(m.group("name")) and m.group("value"):
            found.append(m.group("value"))
    out: list[str] = []
    for s in found:
        for variant in (s, unquote(s)):
            if variant and variant not in out:
                out.append(variant)
    return out


_TEXT_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_CLOSERS = "'\")]}>,;."


def redact_text(text: str, url: str | int | None = None) -> str:
    """Masks credentials inside free text (error messages, FFmpeg/OpenCV output, YAML).

    Every ``scheme://`` up to the next white space is redacted as a URL (its closing
    quote or bracket kept), then, when ``url`` is given, every literal echo of that URL's
    secrets at least :data:`MIN_LITERAL_SECRET` characters long (also percent-decoded).

    Args:
        text: the text to clean.
        url: the camera URL the text may echo, if known.
    """

    def one(m: re.Match[str]) -> str:
        found = m.group(0)
        tail = len(found) - len(found.rstrip(_CLOSERS))
        core, closing = (found[:-tail], found[-tail:]) if tail else (found, "")
        if "@" in closing or "#" in closing:
            core, closing = found, ""
        return redact_url(core) + closing

    out = _mask_query(_TEXT_URL.sub(one, text))
    if url is not None:
        for secret in sorted(secrets_of(url), key=len, reverse=True):
            if len(secret) >= MIN_LITERAL_SECRET:
                out = out.replace(secret, MASK)
    return out
