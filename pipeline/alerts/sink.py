"""The interface every alert sink implements, and the error a failed delivery raises."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pipeline.alerts.outbox import OutboxMessage
from pipeline.alerts.sink_config import RetryConfig
from pipeline.errors import PanorayError


class DeliveryError(PanorayError):
    """One delivery attempt failed; the event stays in the outbox and is retried.

    Attributes:
        sink: the sink's name.
        reason: what went wrong, with credentials masked (safe to log and to show).
        status: the HTTP status or MQTT reason code, when there was one.
    """

    def __init__(self, sink: str, reason: str, status: int | None = None) -> None:
        self.sink = sink
        self.reason = reason
        self.status = status
        super().__init__(f"alert sink {sink!r}: {reason}")


@runtime_checkable
class AlertSink(Protocol):
    """Delivers alert events one at a time, in outbox order.

    ``send`` returns only once the receiver has acknowledged the message (an HTTP 2xx, an
    MQTT PUBACK) and raises :class:`DeliveryError` otherwise; it is called from one
    thread per sink and may block up to its own timeout. ``close`` releases connections.

    Attributes:
        name: the sink's name (its outbox cursor).
        retry: backoff between failed attempts.
    """

    name: str
    retry: RetryConfig

    def send(self, message: OutboxMessage) -> None: ...

    def close(self) -> None: ...
