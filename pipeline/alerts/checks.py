"""The pieces the rule engine is made of: alert targets, the open/close trigger of one rule
on one target, and each media-time rule flattened into a :class:`Check` for the per-frame
loop (:mod:`pipeline.alerts.engine` says how a trigger moves between its states)."""

from __future__ import annotations

import math
import uuid
from collections import deque
from dataclasses import dataclass

from pipeline.alerts.config import (
    MAX_FLOW_EVENTS,
    CameraOfflineRule,
    LineFlowRule,
    OccupancyRule,
    PresenceRule,
    QueueWaitRule,
)
from pipeline.alerts.schedule import ScheduleClock

TIME_EPS_S = 1e-6
"""Slack when comparing durations, so 0.1 s steps that sum to 0.29999 still reach 0.3 s."""

Rule = OccupancyRule | PresenceRule | QueueWaitRule | LineFlowRule | CameraOfflineRule


def new_id() -> str:
    """A fresh random id (32 hex digits, uuid4): unique across processes and runs."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Target:
    """What an alert is about; the fields that do not apply are None."""

    camera_id: str | None = None
    zone_id: str | None = None
    line_id: str | None = None
    group: str | None = None
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert open now: its id, rule and target."""

    alert_id: str
    rule_id: str
    target: Target


class Trigger:
    """Open/close state of one rule on one target (see the module docstring)."""

    __slots__ = ("alert_id", "clear_since", "last_open_t", "opened_t", "pending_since")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.alert_id: str | None = None
        self.pending_since: float | None = None
        self.clear_since: float | None = None
        self.last_open_t = -math.inf
        self.opened_t: float | None = None

    def step(self, t: float, opens: bool, clears: bool, rule: Rule | Check) -> str | None:
        """Advances to time ``t``; returns ``open``, ``close`` or None.

        ``rule`` gives ``for_s``, ``clear_for_s`` and ``min_interval_s``.
        """
        if self.alert_id is None:
            if not opens:
                self.pending_since = None
                return None
            if self.pending_since is None:
                self.pending_since = t
            held = t - self.pending_since >= rule.for_s - TIME_EPS_S
            rested = t - self.last_open_t >= rule.min_interval_s - TIME_EPS_S
            return "open" if held and rested else None
        if not clears:
            self.clear_since = None
            return None
        if self.clear_since is None:
            self.clear_since = t
        return "close" if t - self.clear_since >= rule.clear_for_s - TIME_EPS_S else None


def rule_target(rule: Rule) -> Target | None:
    """The target a rule watches; None for a camera_offline rule over every camera."""
    if isinstance(rule, (OccupancyRule, PresenceRule)):
        if rule.group is not None:
            return Target(group=rule.group)
        return Target(camera_id=rule.camera_id, zone_id=rule.zone_id)
    if isinstance(rule, QueueWaitRule):
        return Target(camera_id=rule.camera_id, zone_id=rule.zone_id)
    if isinstance(rule, LineFlowRule):
        return Target(camera_id=rule.camera_id, line_id=rule.line_id, direction=rule.direction)
    return None if rule.camera_id is None else Target(camera_id=rule.camera_id)


def rule_threshold(rule: Rule) -> float:
    """The figure a rule compares against, in the unit of its alerts' ``value``."""
    if isinstance(rule, OccupancyRule):
        return float(rule.threshold)
    if isinstance(rule, PresenceRule):
        return 1.0
    if isinstance(rule, QueueWaitRule):
        return rule.threshold_s
    if isinstance(rule, LineFlowRule):
        return rule.threshold_per_min
    return rule.for_s


OCCUPANCY, PRESENCE, QUEUE, FLOW = range(4)


class Check:
    """One media-time rule on its one target, flattened for the per-frame loop.

    Attributes:
        rule, target, trig: the rule, what it watches, and its trigger.
        mode: OCCUPANCY (opens at value >= open_at, clears below clear_below), QUEUE
            and FLOW (opens above open_at, clears at or below clear_below), PRESENCE.
        element: the zone or line id read from observations.
        for_s, clear_for_s, min_interval_s: the rule's timing (read by ``Trigger.step``).
        schedule: the presence rule's compiled schedule, or None.
        times: the line_flow rule's crossing times in its window.
    """

    __slots__ = (
        "clear_below",
        "clear_for_s",
        "direction",
        "element",
        "for_s",
        "min_interval_s",
        "mode",
        "open_at",
        "rule",
        "schedule",
        "target",
        "threshold",
        "times",
        "trig",
        "window_s",
    )

    def __init__(self, rule: Rule, target: Target, trig: Trigger) -> None:
        self.rule, self.target, self.trig = rule, target, trig
        self.threshold = rule_threshold(rule)
        self.for_s, self.clear_for_s = rule.for_s, rule.clear_for_s
        self.min_interval_s = rule.min_interval_s
        self.schedule: ScheduleClock | None = None
        self.times: deque[float] | None = None
        self.direction: str | None = None
        self.window_s = 0.0
        self.open_at = self.threshold
        if isinstance(rule, OccupancyRule):
            self.mode, self.element = OCCUPANCY, rule.zone_id
            self.clear_below = rule.threshold - rule.applied_hysteresis
        elif isinstance(rule, PresenceRule):
            self.mode, self.element = PRESENCE, rule.zone_id
            self.clear_below = 1.0
            self.schedule = rule.schedule.compile() if rule.schedule is not None else None
        elif isinstance(rule, QueueWaitRule):
            self.mode, self.element = QUEUE, rule.zone_id
            self.clear_below = rule.threshold_s - rule.applied_hysteresis
        else:
            assert isinstance(rule, LineFlowRule)
            self.mode, self.element = FLOW, rule.line_id
            self.clear_below = rule.threshold_per_min - rule.applied_hysteresis
            self.times = deque(maxlen=MAX_FLOW_EVENTS)
            self.direction, self.window_s = rule.direction, rule.window_s
