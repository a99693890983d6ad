"""Keeps camera credentials out of logs, errors, metrics and API responses.

Camera URLs often carry a password (``rtsp://user:pass@host/...``) or a token in the query
(``...?token=abc``). :func:`redact_url` masks both; :func:`redact_text` masks them inside
free text, such as an OpenCV error that echoes the URL it could not open.

Example:
    >>> redact_url("rtsp://admin:hunter2@10.0.0.5:554/live?channel=1&token=abc")
    'rtsp://admin:***@10.0.0.5:554/live?channel=1&token=***'
    >>> redact_text("could not open 'rtsp://admin:hunter2@cam/live'")
    "could not open 'rtsp://admin:***@cam/live'"
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

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

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*):[^\s/'\"]*@")
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;\s'\"#]+)=(?P<value>[^&;\s'\"#]*)")


def is_secret_param(name: str) -> bool:
    """True when a query parameter's value should be masked (case-insensitive)."""
    lowered = unquote(name).lower()
    return lowered in SECRET_PARAM_NAMES or any(w in lowered for w in SECRET_PARAM_WORDS)


def _mask_query(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if is_secret_param(m.group("name")) and m.group("value"):
            return f"{m.group('sep')}{m.group('name')}={MASK}"
        return m.group(0)

    return _QUERY_PARAM.sub(repl, text)


def redact_url(url: str | int) -> str:
    """Returns ``url`` with its password and secret query values replaced by ``***``.

    The user name, host, port, path and other parameters stay readable. Anything that is
    not a URL (a file path, a device index) is returned unchanged apart from secret-looking
    ``name=value`` parameters. Never raises.

    Args:
        url: a camera URL, path or device index.
    """
    text = str(url)
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _mask_query(text)


def secrets_of(url: str | int) -> list[str]:
    """The secret pieces of ``url`` (password, secret query values), raw and decoded.

    Used to mask echoes of a secret that are not in URL syntax. Never raises.
    """
    text = str(url)
    found: list[str] = []
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # malformed (for example an unclosed IPv6 bracket)
        parts, password = None, None
    if password is None:
        m = re.search(r"://[^\s/@:]*:([^\s@/]*)@", text)
        password = m.group(1) if m else None
    if password:
        found.append(password)
    for m in _QUERY_PARAM.finditer(text):
        if is_secret_param(m.group("name")) and m.group("value"):
            found.append(m.group("value"))
    out: list[str] = []
    for s in found:
        for variant in (s, unquote(s)):
            if variant and variant not in out:
                out.append(variant)
    return out


def redact_text(text: str, url: str | int | None = None) -> str:
    """Masks credentials inside free text (error messages, FFmpeg/OpenCV output).

    Masks anything in URL syntax (``scheme://user:pass@``, secret query parameters), then,
    when ``url`` is given, every literal echo of that URL's secrets at least
    ``MIN_LITERAL_SECRET`` characters long (also percent-decoded ones).

    Args:
        text: the text to clean.
        url: the camera URL the text may echo, if known.
    """
    out = redact_url(text)
    if url is not None:
        for secret in sorted(secrets_of(url), key=len, reverse=True):
            if len(secret) >= MIN_LITERAL_SECRET:
                out = out.replace(secret, MASK)
    return out
