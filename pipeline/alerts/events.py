"""What the rule engine emits: alert open and close events, as JSON and as Arrow rows.

An alert is one episode of one rule's condition on one target (a zone, a group, a line,
a camera). It is announced by an ``open`` event and ended by a ``close`` event; both carry
the alert's ``alert_id``, and each event has its own ``event_id``, which stays the same
however often the event is delivered, so consumers drop repeats by it. Alert events carry
figures only: never an image, a box or a track id.

Example:
    >>> e = AlertEvent(event_id="e1", alert_id="a1", phase="open", reason="triggered",
    ...                site="hq", rule_id="crowd", kind="occupancy", severity="warning",
    ...                camera_id="c1", zone_id="lobby", line_id=None, group=None,
    ...                direction=None, classes=("person",), value=12.0, threshold=10.0,
    ...                pts_s=31.5, at=1_800_000_031.5, duration_s=None)
    >>> AlertEvent.from_json(e.to_json()) == e
    True
    >>> alerts_to_table([e]).num_rows
    1
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import pyarrow as pa

from pipeline.errors import InputError

AlertPhase = Literal["open", "close"]
PAYLOAD_SCHEMA = "panoray.alert.v1"
"""Value of the ``schema`` key of every alert JSON message (bumped on breaking changes)."""

OPEN_REASONS = ("triggered",)
CLOSE_REASONS = ("cleared", "schedule_ended", "rule_removed", "camera_removed")
"""Why an alert closed: its condition cleared; its schedule window ended; its rule left
the config (found when open alerts were restored after a restart); its camera was removed."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """The open or the close of one alert.

    Attributes:
        event_id: unique id of this event (32 hex digits); the same on every delivery.
        alert_id: unique id of the alert; the same on its open and its close.
        phase: ``open`` or ``close``.
        reason: ``triggered`` (open), or one of :data:`CLOSE_REASONS`.
        site: the site name.
        rule_id, kind, severity: the rule that raised it.
        camera_id, zone_id, line_id, group, direction: the target (None where they do
            not apply: a group alert has no camera; ``direction`` only on line rules that
            count one direction).
        classes: the object classes the rule is about.
        value: the figure at the event: occupancy (people), estimated wait (s), crossings
            per minute, seconds offline, or 1/0 present for presence.
        threshold: the rule's threshold in the same unit.
        pts_s: media time of the observation that opened or closed it (seconds); for
            camera_offline the camera's last frame, None if it had none.
        at: wall time of that observation (s since the epoch, UTC): the frame's capture
            time, or the state change or tick time for camera_offline.
        duration_s: close only: seconds the alert was open on the rule's clock (media
            time; wall time for camera_offline); None on opens and for alerts opened
            before a restart (their media time is of another timeline).
    """

    event_id: str
    alert_id: str
    phase: AlertPhase
    reason: str
    site: str
    rule_id: str
    kind: str
    severity: str
    camera_id: str | None
    zone_id: str | None
    line_id: str | None
    group: str | None
    direction: str | None
    classes: tuple[str, ...]
    value: float
    threshold: float
    pts_s: float | None
    at: float
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, with ``schema`` first."""
        return {"schema": PAYLOAD_SCHEMA, **asdict(self), "classes": list(self.classes)}

    def to_json(self) -> bytes:
        """The exact bytes sinks deliver: compact UTF-8 JSON with sorted keys.

        Raises:
            ValueError: a figure is NaN or infinite (never produced by the engine).
        """
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> AlertEvent:
        """Parses :meth:`to_json` output.

        Raises:
            InputError: not an alert message of :data:`PAYLOAD_SCHEMA`, or fields differ.
        """
        obj = json.loads(data)
        if not isinstance(obj, dict) or obj.pop("schema", None) != PAYLOAD_SCHEMA:
            raise InputError(f"not a {PAYLOAD_SCHEMA} message", "schema")
        names = {f.name for f in fields(cls)}
        if set(obj) != names:
            raise InputError(
                f"alert message fields differ: missing {sorted(names - set(obj))}, "
                f"unexpected {sorted(set(obj) - names)}",
                "payload",
            )
        obj["classes"] = tuple(obj["classes"])
        return cls(**obj)


ALERTS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("phase", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("site", pa.string(), nullable=False),
        pa.field("rule_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("camera_id", pa.string()),
        pa.field("zone_id", pa.string()),
        pa.field("line_id", pa.string()),
        pa.field("group", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("classes", pa.list_(pa.string()), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("threshold", pa.float64(), nullable=False),
        pa.field("pts_s", pa.float64()),
        pa.field("at", pa.float64(), nullable=False),
        pa.field("duration_s", pa.float64()),
    ]
)
"""Arrow schema of the ``alerts`` table: one row per open or close event (at: seconds since
the epoch, UTC). Beside :data:`pipeline.analytics.events.EVENTS_SCHEMA`; a Parquet writer
partitions it by the UTC date of ``at`` and appends ``run_id`` like the other tables."""


def alerts_to_table(events: Sequence[AlertEvent]) -> pa.Table:
    """Returns alert events as a table of :data:`ALERTS_SCHEMA`.

    Raises:
        InputError: an event has an unknown phase or reason, or a non-finite figure.
    """
    for e in events:
        if e.phase not in ("open", "close"):
            raise InputError(f"alert phase must be open or close, got {e.phase!r}", "phase")
        reasons = OPEN_REASONS if e.phase == "open" else CLOSE_REASONS
        if e.reason not in reasons:
            raise InputError(
                f"alert {e.phase} reason must be one of {reasons}, got {e.reason!r}", "reason"
            )
        if not (math.isfinite(e.value) and math.isfinite(e.threshold) and math.isfinite(e.at)):
            raise InputError(
                f"alert {e.alert_id} of rule {e.rule_id!r} has a non-finite value, "
                "threshold or time",
                "value",
            )
    columns = {f.name: [getattr(e, f.name) for e in events] for f in fields(AlertEvent)}
    columns["classes"] = [list(c) for c in columns["classes"]]
    return pa.Table.from_pydict(columns, schema=ALERTS_SCHEMA)
