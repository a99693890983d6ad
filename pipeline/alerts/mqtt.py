"""MQTT sink: alert events at QoS 1, and retained live counts per zone, line and group.

Topics (``<prefix>`` is ``topic_prefix``, ``panoray`` by default)::

    <prefix>/<site>/alerts/<rule_id>                   each alert event (QoS 1, not retained)
    <prefix>/<site>/live/<camera_id>/zones/<zone_id>   a zone's live figures (QoS 1, retained)
    <prefix>/<site>/live/<camera_id>/lines/<line_id>   a line's crossing totals (QoS 1, retained)
    <prefix>/<site>/groups/<group>                     a zone group's summed occupancy (retained)

Alert payloads are the event's JSON (:meth:`AlertEvent.to_json`, the same bytes on every
attempt). An alert counts as delivered once the broker's PUBACK arrives; until then it
stays in the outbox. Live counts are state, not events: they bypass the outbox, are
published only when a figure changed, and a subscriber that connects later gets the
latest at once (retained). Ids are restricted to ``[A-Za-z0-9_.-]``, so they are always
valid topic levels.

The client (paho-mqtt 2.x, the Eclipse reference client for Python) runs its network
loop in its own thread, connects in the background and reconnects with its own
backoff; TLS verifies the broker's certificate chain and name unless ``insecure``;
user name and password come from environment variables.

Example:
    >>> from pipeline.analytics.events import CameraSnapshot, LineSnapshot, ZoneSnapshot
    >>> snap = CameraSnapshot("c1", 12.0, 2, (ZoneSnapshot("lobby", 2, 7, 5, None),),
    ...                       (LineSnapshot("door", "in", 9, "out", 4),), (), 0)
    >>> zone, line = live_messages("panoray", "hq", snap, 1e9)
    >>> zone[0], json.loads(zone[1])["counts"]["occupancy"]
    ('panoray/hq/live/c1/zones/lobby', 2)
    >>> line[0], json.loads(line[1])["counts"]
    ('panoray/hq/live/c1/lines/door', {'in': 9, 'out': 4})
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pipeline.alerts.outbox import OutboxMessage
from pipeline.alerts.sink_config import MqttSinkConfig
from pipeline.analytics.events import CameraSnapshot, finite_or_none
from pipeline.errors import ConfigError, DeliveryError

logger = logging.getLogger(__name__)

ALERT_QOS = 1
LIVE_QOS = 1


def alert_topic(prefix: str, site: str, rule_id: str) -> str:
    """The topic of a rule's alert events."""
    return f"{prefix}/{site}/alerts/{rule_id}"


def _message(topic: str, counts: dict[str, Any], ids: dict[str, Any]) -> tuple[str, bytes]:
    body = {**ids, "counts": counts}
    return topic, json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def live_messages(
    prefix: str, site: str, snapshot: CameraSnapshot, at: float
) -> list[tuple[str, bytes]]:
    """The retained live messages of one camera: one per zone, then one per line.

    Each payload is ``{"camera_id", "zone_id" | "line_id", "pts_s", "at", "counts"}``; a
    zone's counts are its occupancy, visit and exit totals and, for a queue, its length
    and estimated wait (s); a line's counts map its two direction names to their totals.

    Args:
        prefix: the topic prefix.
        site: the site name.
        snapshot: ``CameraAnalytics.snapshot()``.
        at: wall time of the snapshot's frame (s since the epoch).
    """
    cam = snapshot.camera_id
    when = {"camera_id": cam, "pts_s": finite_or_none(snapshot.pts_s), "at": at}
    out = []
    for z in snapshot.zones:
        counts = {
            "occupancy": z.occupancy,
            "visits_total": z.visits_total,
            "exits_total": z.exits_total,
            "queue_length": z.queue.length if z.queue else None,
            "est_wait_s": finite_or_none(z.queue.est_wait_s)
            if z.queue and z.queue.est_wait_s is not None
            else None,
        }
        out.append(_message(f"{prefix}/{site}/live/{cam}/zones/{z.zone_id}", counts,
                            {**when, "zone_id": z.zone_id}))
    for ln in snapshot.lines:
        counts = {ln.lr_direction: ln.lr_count, ln.rl_direction: ln.rl_count}
        out.append(_message(f"{prefix}/{site}/live/{cam}/lines/{ln.line_id}", counts,
                            {**when, "line_id": ln.line_id}))
    return out


def group_message(
    prefix: str, site: str, group: str, occupancy: int, pts_s: float, at: float
) -> tuple[str, bytes]:
    """The retained live message of a zone group: ``counts: {"occupancy": n}`` (an upper
    bound where its cameras overlap)."""
    return _message(f"{prefix}/{site}/groups/{group}", {"occupancy": int(occupancy)},
                    {"group": group, "pts_s": pts_s, "at": at})


def credential_from_env(name: str | None, sink: str, what: str,
                        env: Mapping[str, str]) -> str | None:
    """The MQTT sink credential ``what`` from the variable ``name`` (None without one).

    Raises:
        ConfigError: the variable is unset (the message names it, never a value).
    """
    if name is None:
        return None
    value = env.get(name)
    if value is None:
        raise ConfigError(
            f"environment variable {name} is not set; it must hold the mqtt sink "
            f"{sink!r}'s {what}",
            f"alerts.sinks.{sink}.{what}_env",
        )
    return value


def tls_context(config: MqttSinkConfig) -> ssl.SSLContext | None:
    """The TLS context of the broker connection, or None for plain TCP."""
    tls = config.tls
    if tls is None:
        return None
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure:
        ctx.check_hostname = False  # the chain is still verified
    return ctx


class MqttSink:
    """Publishes alert events and live counts to one MQTT broker.

    Connecting starts in the background at construction; :meth:`send` fails (and the
    event waits in the outbox) while the broker is unreachable.

    Args:
        config: the sink's config.
        site: the site name (second topic level).
        env: where ``username_env`` / ``password_env`` are read.

    Raises:
        ConfigError: a credentials variable is unset, or a TLS file cannot be loaded.
    """

    def __init__(
        self, config: MqttSinkConfig, site: str, env: Mapping[str, str] = os.environ
    ) -> None:
        self.config = config
        self.name = config.name
        self.retry = config.retry
        self.site = site
        self._where = f"{config.host}:{config.port}"
        self._connected = threading.Event()
        self._last_problem: str | None = None
        self._live: dict[str, bytes] = {}
        self._live_lock = threading.Lock()
        client_id = config.client_id or f"panoray-{site}-{config.name}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        user = credential_from_env(config.username_env, config.name, "username", env)
        if user is not None:
            self._client.username_pw_set(
                user, credential_from_env(config.password_env, config.name, "password", env)
            )
        try:
            ctx = tls_context(config)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the TLS files: {exc}", f"alerts.sinks.{config.name}.tls"
            ) from None
        if ctx is not None:
            self._client.tls_set_context(ctx)
        self._client.max_queued_messages_set(config.max_queued_messages)
        self._client.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.connect_async(config.host, config.port, keepalive=config.keepalive_s)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Waits up to ``timeout_s`` for the connection; returns whether it is up."""
        return self._connected.wait(timeout_s)

    # ------------------------------------------------------------------ alerts

    def send(self, message: OutboxMessage) -> None:
        """Publishes one alert event at QoS 1; returns once the broker's PUBACK arrived.

        Raises:
            DeliveryError: not connected, the client's queue is full, or no PUBACK came
                within ``publish_timeout_s``.
        """
        if not self._connected.is_set():
            detail = f" ({self._last_problem})" if self._last_problem else ""
            raise DeliveryError(self.name, f"not connected to the broker {self._where}{detail}")
        topic = alert_topic(self.config.topic_prefix, self.site, message.rule_id)
        info = self._client.publish(topic, message.payload, qos=ALERT_QOS)
        timeout = self.config.publish_timeout_s
        try:
            info.wait_for_publish(timeout)
            done = info.is_published()
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(self.name, f"publish to {self._where} failed: {exc}",
                                int(info.rc)) from None
        if not done:
            raise DeliveryError(self.name, f"no PUBACK from {self._where} within {timeout} s")

    # ------------------------------------------------------------------ live counts

    def publish_live(self, snapshot: CameraSnapshot, at: float) -> int:
        """Publishes (retained) the figures of one camera that changed since last time.

        Call it at any rate (every frame, every second): only a zone or line whose
        counts changed is sent. Skipped while disconnected and sent after.

        Returns:
            How many messages were handed to the client.
        """
        if not self.config.live_counts:
            return 0
        return self._publish_retained(live_messages(self.config.topic_prefix, self.site,
                                                    snapshot, at))

    def publish_group(self, group: str, occupancy: int, pts_s: float, at: float) -> int:
        """Publishes (retained) a zone group's summed occupancy if it changed."""
        if not self.config.live_counts:
            return 0
        msg = group_message(self.config.topic_prefix, self.site, group, occupancy, pts_s, at)
        return self._publish_retained([msg])

    def forget_camera(self, camera_id: str) -> None:
        """Clears a removed camera's retained live messages (an empty retained payload)."""
        prefix = f"{self.config.topic_prefix}/{self.site}/live/{camera_id}/"
        with self._live_lock:
            topics = [t for t in self._live if t.startswith(prefix)]
            for t in topics:
                del self._live[t]
        for t in topics:
            self._client.publish(t, b"", qos=LIVE_QOS, retain=True)

    def _publish_retained(self, messages: list[tuple[str, bytes]]) -> int:
        if not self._connected.is_set():
            return 0
        sent = 0
        for topic, payload in messages:
            counts = json.loads(payload)["counts"]
            key = json.dumps(counts, sort_keys=True).encode()
            with self._live_lock:
                if self._live.get(topic) == key:
                    continue
            info = self._client.publish(topic, payload, qos=LIVE_QOS, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                with self._live_lock:
                    self._live[topic] = key
                sent += 1
        return sent

    # ------------------------------------------------------------------ connection

    def close(self) -> None:
        """Disconnects and stops the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._last_problem = f"the broker refused the connection: {reason}"
            logger.warning("mqtt sink %r: %s", self.name, self._last_problem)
            return
        self._last_problem = None
        with self._live_lock:
            self._live.clear()  # a restarted broker may have lost retained messages
        self._connected.set()
        logger.info("mqtt sink %r: connected to %s", self.name, self._where)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            self._last_problem = f"disconnected: {reason}"
            logger.warning("mqtt sink %r: disconnected from %s (%s)", self.name, self._where,
                           reason)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._last_problem = (
            "cannot connect: nothing answers, or TLS failed (certificate not signed by "
            "ca_file, or not issued for this host name)"
        )
