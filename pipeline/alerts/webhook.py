"""Webhook sink: each alert event POSTed as JSON, signed with HMAC-SHA256.

The request (one per event, in outbox order)::

    POST <url>
    Content-Type: application/json
    X-Panoray-Event-Id: <event_id>
    X-Panoray-Timestamp: <t>                  integer seconds since the epoch, this attempt
    X-Panoray-Signature: sha256=<hex>         HMAC-SHA256(secret, f"{t}.".encode() + body)

    <body>: the event's JSON (AlertEvent.to_json), the same bytes on every attempt

The signed string is the timestamp, a dot, and the exact body bytes. A receiver
recomputes the HMAC with the shared secret over the raw body it received (before parsing
it), compares in constant time, rejects a timestamp more than a few minutes from its
clock (a captured request cannot be replayed later), and drops an ``event_id`` it has
already processed (a retry after a lost acknowledgement). :func:`verify_signature` does
the first two for a Python receiver.

Any 2xx answer acknowledges the event. Anything else (another status, a refused
connection, no full answer within ``timeout_s`` of the start) is a failed attempt: the
event stays in the outbox and the delivery worker retries with exponential backoff and
full jitter. Redirects are not followed. Credentials in the URL are used (``user:pass@``
as HTTP Basic auth) but masked in every error and log; the secret is read from the
environment variable named in the config and never logged.

Example:
    >>> sig = sign_body(b"k" * 16, 1_800_000_000, b'{"a":1}')
    >>> sig.startswith("sha256="), len(sig)
    (True, 71)
    >>> verify_signature(b"k" * 16, b'{"a":1}', "1800000000", sig, now=1_800_000_010.0)
    True
    >>> verify_signature(b"k" * 16, b'{"a":2}', "1800000000", sig, now=1_800_000_010.0)
    False
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import math
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from pipeline.alerts.outbox import OutboxMessage
from pipeline.alerts.sink_config import WebhookSinkConfig
from pipeline.errors import ConfigError, DeliveryError
from pipeline.redact import redact_text

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Panoray-Event-Id"
TIMESTAMP_HEADER = "X-Panoray-Timestamp"
SIGNATURE_HEADER = "X-Panoray-Signature"
SIGNATURE_PREFIX = "sha256="
MIN_SECRET_CHARS = 16
"""Shortest shared secret accepted (an HMAC key shorter than this is guessable)."""
DEFAULT_TOLERANCE_S = 300.0
"""How far a receiver should accept a timestamp from its own clock (seconds)."""
MAX_RESPONSE_BYTES = 65536
"""Most bytes of a receiver's answer read (and discarded)."""


def sign_body(secret: bytes, timestamp: int, body: bytes) -> str:
    """Returns ``sha256=<hex>``: HMAC-SHA256 of ``f"{timestamp}.".encode() + body``."""
    mac = hmac.new(secret, str(int(timestamp)).encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Checks a received request's signature and timestamp (for receivers in Python).

    Args:
        secret: the shared secret.
        body: the raw request body, exactly as received.
        timestamp: the ``X-Panoray-Timestamp`` header.
        signature: the ``X-Panoray-Signature`` header.
        now: the receiver's wall clock (s since the epoch).
        tolerance_s: largest accepted distance between ``timestamp`` and ``now``.
    """
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign_body(secret, int(timestamp), body), signature)


def secret_from_env(config: WebhookSinkConfig, env: Mapping[str, str] = os.environ) -> bytes:
    """Reads the sink's HMAC secret from the environment variable its config names.

    Raises:
        ConfigError: the variable is unset or shorter than :data:`MIN_SECRET_CHARS`
            (the message names the variable, never its value).
    """
    value = env.get(config.secret_env)
    path = f"alerts.sinks.{config.name}.secret_env"
    if value is None:
        raise ConfigError(
            f"environment variable {config.secret_env} is not set; it must hold the webhook "
            f"sink {config.name!r}'s shared secret",
            path,
        )
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"environment variable {config.secret_env} holds a secret shorter than "
            f"{MIN_SECRET_CHARS} characters",
            path,
        )
    return value.encode()


class WebhookSink:
    """POSTs alert events to one URL, signed (see the module docstring).

    Args:
        config: the sink's config.
        secret: the shared secret; None reads it from ``config.secret_env``.
        clock: wall clock for the timestamp header (s since the epoch).

    Raises:
        ConfigError: no usable secret.
    """

    def __init__(
        self,
        config: WebhookSinkConfig,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = config.name
        self.retry = config.retry
        self._secret = secret if secret is not None else secret_from_env(config)
        self._clock = clock
        parts = urlsplit(config.url)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._auth = None
        if parts.username is not None:
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._auth = "Basic " + base64.b64encode(raw).decode()
        self._tls = ssl.create_default_context(cafile=config.ca_file) if self._https else None

    def send(self, message: OutboxMessage) -> None:
        """POSTs one event; returns once the receiver answered 2xx.

        Raises:
            DeliveryError: any other answer, or no answer within ``timeout_s``.
        """
        ts = math.floor(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "panoray-alerts",
            EVENT_ID_HEADER: message.event_id,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign_body(self._secret, ts, message.payload),
        }
        if self._auth is not None:
            headers["Authorization"] = self._auth
        url = self.config.redacted_url
        conn = self._connect()
        cut, fired = None, threading.Event()
        try:
            started = time.monotonic()
            conn.connect()
            # timeout_s bounds the whole request, not each read: a receiver that drips a
            # byte at a time cannot hold this sink's lane.
            cut = threading.Timer(max(0.0, started + self.config.timeout_s - time.monotonic()),
                                  _cut_off, (conn.sock, fired))
            cut.start()
            conn.request("POST", self._target, body=message.payload, headers=headers)
            resp = conn.getresponse()
            resp.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or fired.is_set():
                detail = f"no full answer within timeout_s={self.config.timeout_s:g} s"
            else:
                detail = redact_text(str(exc) or type(exc).__name__, self.config.url)
            raise DeliveryError(self.name, f"POST {url} failed: {detail}") from None
        finally:
            if cut is not None:
                cut.cancel()
            conn.close()
        if not 200 <= resp.status < 300:
            raise DeliveryError(
                self.name, f"POST {url} answered {resp.status} {resp.reason}", resp.status
            )

    def close(self) -> None:
        """Nothing to release: each request uses its own connection."""

    def _connect(self) -> http.client.HTTPConnection:
        timeout = self.config.timeout_s
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._tls
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)


def _cut_off(sock: socket.socket, fired: threading.Event) -> None:
    """Shuts ``sock`` down, which wakes a read blocked on it in another thread; ``fired``
    is set first (the reader's error is then the deadline's)."""
    fired.set()
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket's, also under TLS
    except OSError:
        pass  # already closed
