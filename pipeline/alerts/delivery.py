"""The delivery worker: drains the outbox into the sinks, each at its own pace.

One thread per sink takes that sink's pending events from the outbox in order, sends
each, and records the acknowledgement in the outbox before sending the next. A failed
send stops the sink's pass and waits an exponential backoff with full jitter (a random
time up to the capped exponential delay) before the same event is tried again; other
sinks are not held up. New events wake the threads through :meth:`DeliveryWorker.notify`;
they also look every ``poll_interval_s`` (another process may have added events).

The worker is a plain object: an actor can host it (``start()`` in its constructor,
``notify()`` after adding alerts, ``stats()`` for metrics and status, ``stop()`` on
shutdown), or a caller can drive :meth:`DeliveryWorker.deliver_pending` itself.

Example:
    >>> import tempfile, pathlib
    >>> from pipeline.alerts.sink_config import OutboxConfig, RetryConfig
    >>> class Printer:  # any object with name, retry, send() and close() is a sink
    ...     name, retry = "printer", RetryConfig()
    ...     def send(self, message): print("sent", message.event_id)
    ...     def close(self): pass
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "outbox.sqlite"
    >>> box = Outbox(OutboxConfig(path=path), sinks=["printer"])
    >>> worker = DeliveryWorker(box, [Printer()])
    >>> from pipeline.alerts.events import AlertEvent
    >>> box.add([AlertEvent("e1", "a1", "open", "triggered", "hq", "crowd", "occupancy",
    ...          "warning", "c1", "z", None, None, None, ("person",), 9.0, 5.0, 3.0, 1.8e9)])
    1
    >>> worker.deliver_pending("printer")
    sent e1
    1
    >>> s = worker.stats()["printer"]; (s.delivered_total, s.failed_total, s.pending)
    (1, 0, 0)
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.mqtt import MqttSink, credential_from_env
from pipeline.alerts.outbox import Outbox
from pipeline.alerts.sink import AlertSink
from pipeline.alerts.sink_config import MqttSinkConfig, WebhookSinkConfig
from pipeline.alerts.webhook import WebhookSink, secret_from_env
from pipeline.backoff import Backoff
from pipeline.errors import DeliveryError, InputError
from pipeline.redact import redact_text

logger = logging.getLogger(__name__)

FULL_JITTER = 1.0
"""Backoff jitter fraction: each wait is uniform in (0, capped exponential delay]."""


@dataclass(frozen=True)
class SinkStats:
    """One sink's delivery counters (for Prometheus and the cameras API).

    Attributes:
        sink: the sink's name.
        delivered_total: events the sink acknowledged, by this worker.
        failed_total: failed attempts, by this worker.
        pending: events waiting for the sink in the outbox.
        dropped_total: events the sink never got because the outbox passed max_rows
            (since the outbox file was created).
        consecutive_failures: failed attempts since the last success.
        last_error: the latest failure, credentials masked (compare last_error_at with
            last_delivered_at to see whether the sink has recovered since).
        last_error_at: wall time of that failure (s since the epoch).
        last_delivered_at: wall time of the latest success.
        retry_in_s: seconds until the next attempt while backing off, else 0.
    """

    sink: str
    delivered_total: int
    failed_total: int
    pending: int
    dropped_total: int
    consecutive_failures: int
    last_error: str | None
    last_error_at: float | None
    last_delivered_at: float | None
    retry_in_s: float


class _Lane:
    """One sink's state in the worker."""

    def __init__(self, sink: AlertSink, rng: random.Random) -> None:
        self.sink = sink
        r = sink.retry
        self.backoff = Backoff(r.initial_s, r.max_s, r.multiplier, FULL_JITTER, rng)
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.next_attempt = 0.0  # monotonic
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_delivered_at: float | None = None


class DeliveryWorker:
    """Delivers the outbox's events to every sink, with per-sink backoff and counters.

    Args:
        outbox: the outbox (its ``sinks`` must name every sink here).
        sinks: the sinks.
        batch_size: events read from the outbox at a time.
        poll_interval_s: how often an idle sink looks for events nobody notified it of.
        rng: randomness of the backoff jitter (seed it for repeatable tests).
        clock: wall clock for the ``*_at`` counters.

    Raises:
        InputError: two sinks share a name.
    """

    def __init__(
        self,
        outbox: Outbox,
        sinks: Sequence[AlertSink],
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self._batch = int(batch_size)
        self._poll_s = float(poll_interval_s)
        self._clock = clock
        self._rng = rng or random.Random()
        self._lanes: dict[str, _Lane] = {}
        for sink in sinks:
            if sink.name in self._lanes:
                raise InputError(f"two alert sinks are named {sink.name!r}", "sinks")
            self._lanes[sink.name] = _Lane(sink, self._rng)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Starts one delivery thread per sink (daemon threads)."""
        self._stop.clear()
        for name, lane in self._lanes.items():
            if lane.thread is None or not lane.thread.is_alive():
                lane.thread = threading.Thread(
                    target=self._run, args=(lane,), name=f"alerts-{name}", daemon=True
                )
                lane.thread.start()

    def notify(self) -> None:
        """Tells idle sinks that events were added (a sink backing off keeps waiting)."""
        for lane in self._lanes.values():
            lane.wake.set()

    def stop(self, timeout_s: float = 10.0, close_sinks: bool = True) -> None:
        """Stops the threads (an event being sent finishes first) and closes the sinks
        (then the worker cannot start again; pass ``close_sinks=False`` to pause it)."""
        self._stop.set()
        self.notify()
        for lane in self._lanes.values():
            if lane.thread is not None:
                lane.thread.join(timeout_s)
                lane.thread = None
            if close_sinks:
                lane.sink.close()

    def deliver_pending(self, sink: str) -> int:
        """Sends ``sink``'s pending events in order until none is left or one fails.

        Ignores the backoff (the threads respect it); do not call it for a sink whose
        thread runs. Never raises for a failed send: the failure is counted and the event
        stays pending.

        Returns:
            How many events were delivered.
        """
        lane = self._lanes.get(sink)
        if lane is None:
            raise InputError(f"no alert sink named {sink!r}", "sink")
        return self._drain(lane)[0]

    # ------------------------------------------------------------------ status

    def stats(self) -> dict[str, SinkStats]:
        """Counters of every sink, by name."""
        now = time.monotonic()
        out = {}
        for name, lane in self._lanes.items():
            cursor = self.outbox.cursor(name)
            with self._lock:
                out[name] = SinkStats(
                    sink=name,
                    delivered_total=lane.delivered,
                    failed_total=lane.failed,
                    pending=cursor.pending,
                    dropped_total=cursor.dropped_total,
                    consecutive_failures=lane.backoff.failures,
                    last_error=lane.last_error,
                    last_error_at=lane.last_error_at,
                    last_delivered_at=lane.last_delivered_at,
                    retry_in_s=max(0.0, lane.next_attempt - now),
                )
        return out

    # ------------------------------------------------------------------ internals

    def _run(self, lane: _Lane) -> None:
        while not self._stop.is_set():
            wait = lane.next_attempt - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)  # backing off: new events do not cut it short
                continue
            lane.wake.clear()
            _, failed = self._drain(lane)
            if not failed:
                lane.wake.wait(self._poll_s)

    def _drain(self, lane: _Lane) -> tuple[int, bool]:
        """Returns (events delivered, whether a send failed)."""
        name = lane.sink.name
        delivered = 0
        while not self._stop.is_set():
            batch = self.outbox.pending(name, self._batch)
            if not batch:
                return delivered, False
            for message in batch:
                try:
                    lane.sink.send(message)
                    self.outbox.ack(name, message.seq)
                except DeliveryError as exc:
                    self._failed(lane, exc.reason)
                    return delivered, True
                except Exception as exc:
                    logger.exception("alert sink %r: unexpected error while sending", name)
                    self._failed(lane, redact_text(f"{type(exc).__name__}: {exc}"))
                    return delivered, True
                delivered += 1
                self._succeeded(lane)
        return delivered, False

    def _failed(self, lane: _Lane, reason: str) -> None:
        with self._lock:
            first = lane.backoff.failures == 0
            delay = lane.backoff.next_delay()
            lane.next_attempt = time.monotonic() + delay
            lane.failed += 1
            lane.last_error = reason
            lane.last_error_at = self._clock()
        log = logger.warning if first else logger.debug
        log("alert sink %r: delivery failed (%s); retrying in %.1f s",
            lane.sink.name, reason, delay)

    def _succeeded(self, lane: _Lane) -> None:
        with self._lock:
            if lane.backoff.failures:
                logger.info(
                    "alert sink %r: delivering again after %d failed attempts",
                    lane.sink.name, lane.backoff.failures,
                )
            lane.backoff.reset()
            lane.next_attempt = 0.0
            lane.delivered += 1
            lane.last_delivered_at = self._clock()


def check_secrets(config: AlertsConfig, env: Mapping[str, str]) -> None:
    """Checks that every sink's secret and credential variables are set in ``env`` (a
    webhook secret long enough): what :func:`build_sinks` reads, checked before a run
    starts anything.

    Raises:
        ConfigError: naming the first variable that is not (never a value).
    """
    for cfg in config.sinks:
        if isinstance(cfg, WebhookSinkConfig):
            secret_from_env(cfg, env)
        elif isinstance(cfg, MqttSinkConfig):
            for what in ("username", "password"):
                credential_from_env(getattr(cfg, f"{what}_env"), cfg.name, what, env)


def build_sinks(config: AlertsConfig, env: Mapping[str, str] | None = None) -> list[AlertSink]:
    """Creates the sinks an alerts config names (webhook, mqtt), in config order.

    Raises:
        ConfigError: a secret or credential variable is unset, or TLS files are unusable.
    """
    env = os.environ if env is None else env
    sinks: list[AlertSink] = []
    for cfg in config.sinks:
        if isinstance(cfg, WebhookSinkConfig):
            sinks.append(WebhookSink(cfg, secret_from_env(cfg, env)))
        elif isinstance(cfg, MqttSinkConfig):
            sinks.append(MqttSink(cfg, config.site, env))
    return sinks
