"""Configuration of alerting: rules, and the ``alerts:`` section that holds them with the
sinks and the outbox (their schemas: :mod:`pipeline.alerts.sink_config`; schedules:
:mod:`pipeline.alerts.schedule`).

Every threshold is a named, bounded, documented field; unknown keys are errors; errors
that relate two fields of a rule name the rule's id. Rules and sinks are discriminated
unions: a rule picks its schema by ``kind``, a sink by ``type``.

Example (YAML, the ``alerts:`` section of a site config)::

    alerts:
      site: hq
      rules:
        - {id: lobby-crowded, kind: occupancy, camera_id: entrance, zone_id: lobby,
           threshold: 12, for_s: 30, hysteresis: 2}
        - id: yard-after-hours
          kind: presence
          camera_id: dock
          zone_id: yard
          severity: critical
          schedule:
            timezone: Europe/Paris
            windows:
              - {days: [mon, tue, wed, thu, fri], start: "20:00", end: "06:00"}
              - {days: [sat, sun], start: "00:00", end: "24:00"}
        - {id: tills-slow, kind: queue_wait, camera_id: entrance, zone_id: tills,
           threshold_s: 300}
        - {id: door-rush, kind: line_flow, camera_id: entrance, line_id: door,
           direction: in, threshold_per_min: 40}
        - {id: camera-down, kind: camera_offline, for_s: 60, severity: critical}
      sinks:
        - {type: webhook, name: ops, url: "https://ops.example/hooks/panoray",
           secret_env: PANORAY_WEBHOOK_SECRET}
        - {type: mqtt, name: broker, host: mqtt.local, port: 8883,
           tls: {ca_file: /etc/panoray/mqtt-ca.pem}}
      outbox: {path: ./panoray-output/alerts-outbox.sqlite}

    >>> cfg = AlertsConfig.model_validate({"site": "hq", "rules": [
    ...     {"id": "crowd", "kind": "occupancy", "camera_id": "c1", "zone_id": "z",
    ...      "threshold": 5}]})
    >>> rule = cfg.rules[0]
    >>> rule.kind, rule.threshold, rule.applied_hysteresis, rule.classes, rule.severity
    ('occupancy', 5, 1, ('person',), 'warning')
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from pipeline.alerts.schedule import Schedule
from pipeline.alerts.sink_config import ID_PATTERN, AlertSinkConfig, OutboxConfig
from pipeline.config import StrictModel

Severity = Literal["info", "warning", "critical"]
RuleKind = Literal["occupancy", "presence", "queue_wait", "line_flow", "camera_offline"]

MAX_FLOW_EVENTS = 100_000
"""Most crossing times one ``line_flow`` rule keeps in its sliding window (bounds memory)."""


def _check_hysteresis(rule_id: str, name: str, value: float | None, of: str, limit: float) -> None:
    """Raises unless hysteresis ``value`` (None: its default) is below the threshold."""
    if value is not None and value >= limit:
        raise ValueError(
            f"rule {rule_id!r}: {name} ({value}) must be less than {of} ({limit}), or the "
            "figure could never fall low enough to close"
        )


class RuleBase(StrictModel):
    """Fields every rule has: identity, severity, classes, and re-trigger control."""

    id: str = Field(
        pattern=ID_PATTERN,
        description="Rule id, unique in the site; stamped on its alerts and used as the "
        "last level of their MQTT topic.",
    )
    severity: Severity = Field("warning", description="info, warning or critical.")
    classes: tuple[str, ...] = Field(
        ("person",), min_length=1, max_length=64,
        description="Object classes the rule is about (its zone or line must count them): "
        "occupancy and presence sum the zone's occupancy of these classes, queue_wait "
        "takes the longest of their waits, line_flow counts their crossings; carried on "
        "every alert. A group rule's classes are its group's (groups[].classes).",
    )
    clear_for_s: float = Field(
        10.0, ge=0.0, le=86400.0,
        description="An open alert closes only once its condition has been clear this long "
        "(seconds on the rule's clock), so a figure that dips for a moment does not close "
        "and re-open it.",
    )
    min_interval_s: float = Field(
        300.0, ge=0.0, le=7 * 86400.0,
        description="Least time between two opens of this rule for one target (seconds on "
        "the rule's clock): a condition that returns sooner opens no new alert until this "
        "has passed since the previous open (and then only if it still holds).",
    )


class ZoneTargetMixin(StrictModel):
    """A zone of one camera (camera_id + zone_id) or a named zone group."""

    camera_id: str | None = Field(None, pattern=ID_PATTERN, description="Camera of the zone.")
    zone_id: str | None = Field(None, pattern=ID_PATTERN, description="Zone on that camera.")
    group: str | None = Field(
        None, pattern=ID_PATTERN,
        description="A zone group (zones on several cameras, occupancy summed) instead of "
        "one camera's zone.",
    )

    def _check_zone_target(self, rule_id: str) -> None:
        one_zone = self.camera_id is not None and self.zone_id is not None
        partial = (self.camera_id is None) != (self.zone_id is None)
        if partial:
            raise ValueError(f"rule {rule_id!r}: give both camera_id and zone_id, or a group")
        if one_zone == (self.group is not None):
            raise ValueError(
                f"rule {rule_id!r}: give either camera_id and zone_id, or group, "
                f"{'not both' if one_zone else 'one of them'}"
            )


class OccupancyRule(RuleBase, ZoneTargetMixin):
    """Overcrowding: occupancy at or above ``threshold`` for at least ``for_s``.

    Opens when occupancy >= threshold has held for ``for_s`` (media seconds); closes when
    occupancy < threshold - hysteresis has held for ``clear_for_s``.
    """

    kind: Literal["occupancy"] = Field(description="Rule kind.")
    threshold: int = Field(ge=1, le=100_000, description="People at or above which it opens.")
    for_s: float = Field(
        30.0, ge=0.0, le=86400.0, description="Media seconds occupancy must stay at or above "
        "the threshold before the alert opens."
    )
    hysteresis: int | None = Field(
        None, ge=0, le=100_000,
        description="Occupancy must fall below threshold - hysteresis to close (and to "
        "re-arm); less than threshold. Unset: 1 (0 when threshold is 1).",
    )

    @model_validator(mode="after")
    def _check(self) -> OccupancyRule:
        self._check_zone_target(self.id)
        _check_hysteresis(self.id, "hysteresis", self.hysteresis, "threshold", self.threshold)
        return self

    @property
    def applied_hysteresis(self) -> int:
        """``hysteresis``, or its default."""
        return min(1, self.threshold - 1) if self.hysteresis is None else self.hysteresis


class PresenceRule(RuleBase, ZoneTargetMixin):
    """Anyone in a restricted zone, optionally only inside a schedule (nights, weekends).

    Opens when the zone has been occupied for ``for_s`` inside the schedule; closes when
    it has been empty for ``clear_for_s``, or at once when the schedule ends.
    """

    kind: Literal["presence"] = Field(description="Rule kind.")
    for_s: float = Field(
        0.0, ge=0.0, le=86400.0,
        description="Media seconds someone must be present before the alert opens (the "
        "zone's min_visit_s already ignores brief visits).",
    )
    schedule: Schedule | None = Field(
        None, description="When the rule is armed (wall time of the frames); unset: always."
    )

    @model_validator(mode="after")
    def _check(self) -> PresenceRule:
        self._check_zone_target(self.id)
        return self


class QueueWaitRule(RuleBase):
    """A queue zone's estimated wait above ``threshold_s``.

    Opens when the estimate > threshold_s has held for ``for_s``; closes when it is
    <= threshold_s - hysteresis_s for ``clear_for_s``. Samples without an estimate are
    ignored.
    """

    kind: Literal["queue_wait"] = Field(description="Rule kind.")
    camera_id: str = Field(pattern=ID_PATTERN, description="Camera of the queue zone.")
    zone_id: str = Field(pattern=ID_PATTERN, description="The queue zone (`queue: true`).")
    threshold_s: float = Field(
        gt=0.0, le=86400.0, description="Estimated wait (s) above which it opens."
    )
    for_s: float = Field(
        60.0, ge=0.0, le=86400.0,
        description="Media seconds the estimate must stay above the threshold before opening.",
    )
    hysteresis_s: float | None = Field(
        None, ge=0.0, le=86400.0,
        description="The estimate must fall to threshold_s - hysteresis_s or below to close; "
        "less than threshold_s. Unset: 10 % of threshold_s.",
    )

    @model_validator(mode="after")
    def _check(self) -> QueueWaitRule:
        _check_hysteresis(self.id, "hysteresis_s", self.hysteresis_s, "threshold_s",
                          self.threshold_s)
        return self

    @property
    def applied_hysteresis(self) -> float:
        """``hysteresis_s``, or its default."""
        return 0.1 * self.threshold_s if self.hysteresis_s is None else self.hysteresis_s


class LineFlowRule(RuleBase):
    """Crossings of a line above ``threshold_per_min`` over a sliding window of media time.

    The rate is crossings in the last ``window_s`` media seconds times 60 / window_s
    (evaluated on every observation of the camera, so it also falls when nobody crosses).
    Opens when rate > threshold_per_min has held for ``for_s``; closes when rate <=
    threshold_per_min - hysteresis_per_min has held for ``clear_for_s``.
    """

    kind: Literal["line_flow"] = Field(description="Rule kind.")
    camera_id: str = Field(pattern=ID_PATTERN, description="Camera of the line.")
    line_id: str = Field(pattern=ID_PATTERN, description="The line.")
    direction: str | None = Field(
        None, min_length=1, max_length=32,
        description="Count only crossings in this direction (the line's direction name, "
        "e.g. `in`); unset counts both.",
    )
    threshold_per_min: float = Field(
        gt=0.0, le=100_000.0, description="Crossings per minute above which it opens."
    )
    window_s: float = Field(
        60.0, ge=1.0, le=3600.0, description="Length of the sliding window, media seconds."
    )
    for_s: float = Field(
        0.0, ge=0.0, le=86400.0,
        description="Media seconds the rate must stay above the threshold before opening.",
    )
    hysteresis_per_min: float | None = Field(
        None, ge=0.0, le=100_000.0,
        description="The rate must fall to threshold_per_min - hysteresis_per_min or below "
        "to close; less than threshold_per_min. Unset: 10 % of threshold_per_min.",
    )

    @model_validator(mode="after")
    def _check(self) -> LineFlowRule:
        _check_hysteresis(self.id, "hysteresis_per_min", self.hysteresis_per_min,
                          "threshold_per_min", self.threshold_per_min)
        needed = self.threshold_per_min * self.window_s / 60.0
        if needed >= MAX_FLOW_EVENTS:
            raise ValueError(
                f"rule {self.id!r}: threshold_per_min x window_s / 60 ({needed:.0f} crossings) "
                f"must stay below {MAX_FLOW_EVENTS}, the most crossings a window keeps"
            )
        return self

    @property
    def applied_hysteresis(self) -> float:
        """``hysteresis_per_min``, or its default."""
        if self.hysteresis_per_min is None:
            return 0.1 * self.threshold_per_min
        return self.hysteresis_per_min


OFFLINE_STATES_DEFAULT = ("connecting", "reconnecting", "failed")


class CameraOfflineRule(RuleBase):
    """A camera not delivering frames (connecting, reconnecting, failed) for ``for_s``.

    The one rule on the wall clock: while a camera is down there is no media time. It is
    fed the camera's state changes and periodic ticks, each with its wall time.
    """

    kind: Literal["camera_offline"] = Field(description="Rule kind.")
    camera_id: str | None = Field(
        None, pattern=ID_PATTERN, description="The camera; unset: every camera (one alert each)."
    )
    for_s: float = Field(
        60.0, ge=0.0, le=7 * 86400.0,
        description="Wall seconds a camera must be offline before the alert opens.",
    )
    states: tuple[Literal["connecting", "reconnecting", "failed"], ...] = Field(
        OFFLINE_STATES_DEFAULT, min_length=1, max_length=3,
        description="Camera states that count as offline (`ended` and `stopped` are "
        "deliberate and never do).",
    )
    clear_for_s: float = Field(
        0.0, ge=0.0, le=86400.0,
        description="Wall seconds the camera must be streaming again before the alert closes.",
    )
    min_interval_s: float = Field(
        300.0, ge=0.0, le=7 * 86400.0,
        description="Least wall seconds between two opens for one camera.",
    )


AlertRule = Annotated[
    OccupancyRule | PresenceRule | QueueWaitRule | LineFlowRule | CameraOfflineRule,
    Field(discriminator="kind"),
]


class AlertsConfig(StrictModel):
    """Alert rules, the sinks alerts go to, and the outbox between them."""

    site: str = Field(
        "site", pattern=ID_PATTERN,
        description="Site name, stamped on every alert and the second level of MQTT topics.",
    )
    rules: tuple[AlertRule, ...] = Field((), max_length=10_000, description="Alert rules.")
    sinks: tuple[AlertSinkConfig, ...] = Field(
        (), max_length=32, description="Where alerts are delivered (webhook, mqtt)."
    )
    outbox: OutboxConfig | None = Field(
        None, description="The durable outbox; needed when sinks are configured."
    )
    sample_interval_s: float = Field(
        0.5, ge=0.0, le=60.0,
        description="Media seconds between two samples of a camera's figures checked "
        "against the rules (0: every frame). A rule's `for_s` is met up to this much later; "
        "line crossings between samples are all counted.",
    )
    check_interval_s: float = Field(
        1.0, gt=0.0, le=60.0,
        description="How often `camera_offline` rules are checked and the alerts table is "
        "written (wall s).",
    )
    stop_drain_s: float = Field(
        5.0, ge=0.0, le=300.0,
        description="At a clean stop, how long sinks may take to deliver what is pending "
        "(wall s); what is left waits in the outbox for the next start.",
    )

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used by more than one rule")
            seen.add(rule.id)
        names: set[str] = set()
        for sink in self.sinks:
            if sink.name in names:
                raise ValueError(
                    f"sink name {sink.name!r} is used by more than one sink; give each a "
                    "distinct `name`"
                )
            names.add(sink.name)
        if self.sinks and self.outbox is None:
            raise ValueError("sinks need an outbox: set outbox.path")
        return self

    def env_names(self) -> set[str]:
        """Names of the environment variables the sinks read secrets from."""
        names = set()
        for sink in self.sinks:
            for attr in ("secret_env", "username_env", "password_env"):
                if getattr(sink, attr, None):
                    names.add(getattr(sink, attr))
        return names

    def secrets_from(self, env: Mapping[str, str]) -> dict[str, str]:
        """The values of :meth:`env_names` set in ``env``, for an actor that does not
        share the driver's environment (never logged)."""
        return {n: env[n] for n in sorted(self.env_names()) if n in env}


def check_rule_targets(
    rules: tuple[Any, ...],
    zones: Mapping[str, Collection[str]],
    lines: dict[str, set[str]],
    queue_zones: dict[str, set[str]],
    groups: set[str],
) -> None:
    """Checks that every rule names cameras, zones, lines and groups that exist.

    Args:
        rules: the rules (``AlertsConfig.rules``).
        zones: camera id -> its zone ids (a mapping from them is fine).
        lines: camera id -> its line ids.
        queue_zones: camera id -> ids of its zones with ``queue: true``.
        groups: names of the configured zone groups.

    Raises:
        ValueError: naming the first rule that refers to something missing.
    """
    for rule in rules:
        camera = getattr(rule, "camera_id", None)
        if camera is not None and camera not in zones:
            raise ValueError(f"rule {rule.id!r}: camera {camera!r} is not configured")
        if camera is None and rule.kind != "camera_offline" and rule.group is None:
            raise ValueError(f"rule {rule.id!r}: names no camera and no group")
        group = getattr(rule, "group", None)
        if group is not None and group not in groups:
            raise ValueError(f"rule {rule.id!r}: zone group {group!r} is not configured")
        if (rule.kind in ("occupancy", "presence") and rule.zone_id is not None
                and rule.zone_id not in zones.get(camera, set())):
            raise ValueError(f"rule {rule.id!r}: camera {camera!r} has no zone {rule.zone_id!r}")
        if rule.kind == "queue_wait" and rule.zone_id not in queue_zones.get(camera, set()):
            raise ValueError(
                f"rule {rule.id!r}: camera {camera!r} has no queue zone {rule.zone_id!r} "
                "(a zone with `queue: true`)"
            )
        if rule.kind == "line_flow" and rule.line_id not in lines.get(camera, set()):
            raise ValueError(f"rule {rule.id!r}: camera {camera!r} has no line {rule.line_id!r}")


def check_rule_classes(rules: tuple[Any, ...], counted: dict[str, dict[str, tuple[str, ...]]],
                       group_classes: dict[str, tuple[str, ...]] | None = None) -> None:
    """Checks that a camera rule's classes are counted by its zone or line, and that a
    group rule's classes are those its group sums.

    Args:
        rules: the rules (``AlertsConfig.rules``), their targets already checked.
        counted: camera id -> zone or line id (unique per camera) -> the classes it counts.
        group_classes: group name -> the classes it sums.

    Raises:
        ValueError: naming the first rule about a class its zone, line or group does not
            count.
    """
    for rule in rules:
        group = getattr(rule, "group", None)
        if group is not None and group_classes is not None:
            if set(rule.classes) != set(group_classes[group]):
                raise ValueError(
                    f"rule {rule.id!r}: classes {list(rule.classes)} differ from those zone "
                    f"group {group!r} sums ({list(group_classes[group])}); set the group's "
                    "classes (groups[].classes) and the rule's to the same")
            continue
        element = getattr(rule, "zone_id", None) or getattr(rule, "line_id", None)
        if element is None or getattr(rule, "camera_id", None) is None:
            continue
        have = counted[rule.camera_id][element]
        missing = [c for c in rule.classes if c not in have]
        if missing:
            raise ValueError(f"rule {rule.id!r}: classes {missing} are not counted by "
                             f"{element!r} on camera {rule.camera_id!r} (it counts "
                             f"{list(have)})")
