"""The interface every alert sink implements (a failed delivery raises
:class:`~pipeline.errors.DeliveryError`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pipeline.alerts.outbox import OutboxMessage
from pipeline.alerts.sink_config import RetryConfig


@runtime_checkable
class AlertSink(Protocol):
    """Delivers alert events one at a time, in outbox order.

    ``send`` returns only once the receiver has acknowledged the message (an HTTP 2xx, an
    MQTT PUBACK) and raises :class:`~pipeline.errors.DeliveryError` otherwise; it is
    called from one thread per sink and may block up to its own timeout. ``close``
    releases connections.

    Attributes:
        name: the sink's name (its outbox cursor).
        retry: backoff between failed attempts.
    """

    name: str
    retry: RetryConfig

    def send(self, message: OutboxMessage) -> None: ...

    def close(self) -> None: ...
