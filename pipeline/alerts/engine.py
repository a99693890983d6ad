"""The rule engine: alert rules checked against observations, in media time.

:class:`RuleEngine` is a plain core (no Ray, no I/O, no clock): it is fed each camera's
:class:`~pipeline.alerts.inputs.CameraObservation`, zone groups' sums and camera states,
and returns the :class:`~pipeline.alerts.events.AlertEvent` s they open or close.

Every rule target (a zone, a group, a line, a camera) has a small trigger: idle ->
pending (condition met since t0) -> open once it has held ``for_s`` and ``min_interval_s``
has passed since the target's previous open -> clearing (clear condition met since t1)
-> closed once that has held ``clear_for_s``. The open and clear conditions differ by
the rule's hysteresis, so a figure hovering at the threshold neither flaps nor re-opens.

Times are each stream's own: media time (``pts_s``) for a camera's zones, queues and
lines, the group's clock for groups, and wall time only for ``camera_offline``, which
has no media time while the camera is down. Replaying a file faster gives the same
alerts (less their random ids). State is bounded: one trigger per rule and target,
crossing times of a ``line_flow`` window capped at
:data:`~pipeline.alerts.config.MAX_FLOW_EVENTS`, a few numbers per camera with rules.

Example:
    >>> from pipeline.alerts.config import OccupancyRule
    >>> from pipeline.alerts.inputs import CameraObservation
    >>> rule = OccupancyRule(id="crowd", kind="occupancy", camera_id="c1", zone_id="lobby",
    ...                      threshold=3, for_s=2, hysteresis=1, clear_for_s=0,
    ...                      min_interval_s=0)
    >>> engine = RuleEngine([rule], site="hq")
    >>> def at(t, n):
    ...     return engine.observe(CameraObservation("c1", t, 1e9 + t, {"lobby": n}))
    >>> [(e.phase, e.pts_s, e.value) for t, n in enumerate([3, 3, 4, 2, 1]) for e in at(t, n)]
    [('open', 2.0, 4.0), ('close', 4.0, 1.0)]
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Sequence

from pipeline.alerts.checks import (
    FLOW,
    OCCUPANCY,
    PRESENCE,
    QUEUE,
    Check,
    OpenAlert,
    Rule,
    Target,
    Trigger,
    new_id,
    rule_target,
    rule_threshold,
)
from pipeline.alerts.config import (
    CameraOfflineRule,
)
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.inputs import CameraObservation, CameraStatus, GroupObservation
from pipeline.errors import InputError

logger = logging.getLogger(__name__)

class RuleEngine:
    """Checks alert rules against observations and returns alert open/close events.

    Args:
        rules: the rules (``AlertsConfig.rules``); ids must be unique.
        site: the site name stamped on every alert.
        id_factory: makes alert and event ids; the default draws random uuid4 hex ids.

    Example: see the module docstring.
    """

    def __init__(
        self, rules: Sequence[Rule], site: str, id_factory: Callable[[], str] = new_id
    ) -> None:
        self.site = site
        self._new_id = id_factory
        self._rules: dict[str, Rule] = {}
        self._targets: dict[str, Target | None] = {}
        self._offline_rules: list[CameraOfflineRule] = []
        for rule in rules:
            if rule.id in self._rules:
                raise InputError(f"rule id {rule.id!r} is used by more than one rule", "rules")
            self._rules[rule.id] = rule
            self._targets[rule.id] = rule_target(rule)
            if isinstance(rule, CameraOfflineRule):
                self._offline_rules.append(rule)
        self._warned: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Drops all state (open alerts are forgotten without close events)."""
        self._triggers: dict[tuple[str, Target], Trigger] = {}
        self._camera_checks: dict[str, list[Check]] = {}
        self._group_checks: dict[str, list[Check]] = {}
        for rule in self._rules.values():
            target = self._targets[rule.id]
            if target is None:
                continue
            trig = self._triggers[(rule.id, target)] = Trigger()
            if isinstance(rule, CameraOfflineRule):
                continue
            check = Check(rule, target, trig)
            if target.group is not None:
                self._group_checks.setdefault(target.group, []).append(check)
            else:
                self._camera_checks.setdefault(target.camera_id, []).append(check)
        self._camera_pts: dict[str, float] = {}
        self._group_pts: dict[str, float] = {}
        self._status_at: dict[str, float] = {}
        self._camera_state: dict[str, str] = {}
        self._seen_at: dict[str, float] = {}  # wall time each camera's state was last read

    # ------------------------------------------------------------------ inputs

    def observe(self, obs: CameraObservation) -> list[AlertEvent]:
        """Checks the rules on one camera's zones, queues and lines at one observation.

        Returns:
            The alerts opened or closed, in rule order.

        Raises:
            InputError: ``pts_s`` is not finite or went backwards for this camera.
        """
        cam = obs.camera_id
        checks = self._camera_checks.get(cam)
        if checks is None and not self._offline_applies(cam):
            return []
        t = self._advance(self._camera_pts, cam, obs.pts_s, "camera")
        out: list[AlertEvent] = []
        for ck in checks or ():
            mode = ck.mode
            if mode == FLOW:
                self._evaluate(ck, self._flow_rate(ck, obs, t), t, obs.at, out)
            elif mode == QUEUE:
                waits = obs.queue_wait_s
                if ck.element in obs.class_queue_wait_s:  # the longest of its classes' waits
                    by_class = obs.class_queue_wait_s[ck.element]
                    known = [w for c in ck.rule.classes if (w := by_class.get(c)) is not None]
                    waits = {ck.element: max(known) if known else None}
                if ck.element not in waits:
                    self._missing(ck, "queue zone")
                elif (wait := waits[ck.element]) is not None:  # None: no estimate, no news
                    self._evaluate(ck, float(wait), t, obs.at, out)
            else:
                n = obs.zone_occupancy.get(ck.element)
                if ck.element in obs.class_occupancy:  # the rule's classes only
                    by_class = obs.class_occupancy[ck.element]
                    n = sum(by_class.get(c, 0) for c in ck.rule.classes)
                if n is None:
                    self._missing(ck, "zone")
                else:
                    self._evaluate(ck, float(n), t, obs.at, out)
        return out

    def observe_group(self, obs: GroupObservation) -> list[AlertEvent]:
        """Checks the rules on a zone group's summed occupancy.

        Raises:
            InputError: ``pts_s`` is not finite or went backwards for this group.
        """
        checks = self._group_checks.get(obs.group)
        if checks is None:
            return []
        t = self._advance(self._group_pts, obs.group, obs.pts_s, "group")
        out: list[AlertEvent] = []
        for ck in checks:
            self._evaluate(ck, float(obs.occupancy), t, obs.at, out)
        return out

    def camera_status(self, status: CameraStatus) -> list[AlertEvent]:
        """Notes a camera's state change (wall time) and checks ``camera_offline`` rules."""
        cam = status.camera_id
        if not self._offline_applies(cam):
            return []
        at = self._wall(cam, status.at)
        self._camera_state[cam] = status.state
        if status.seen_at is None:
            self._seen_at.pop(cam, None)
        else:
            self._seen_at[cam] = float(status.seen_at)
        return self._check_offline(cam, at)

    def tick(self, at: float) -> list[AlertEvent]:
        """Checks ``camera_offline`` rules at wall time ``at`` (call it every second or so),
        or at the time each camera's state was last read when that is earlier: a state
        not yet reported (a camera back before ``for_s``) must not open an alert."""
        out: list[AlertEvent] = []
        for cam in list(self._camera_state):
            known = min(float(at), self._seen_at.get(cam, math.inf))
            out.extend(self._check_offline(cam, self._wall(cam, known)))
        return out

    # ------------------------------------------------------------------ life cycle

    def restore(self, open_alerts: Iterable[AlertEvent], at: float) -> list[AlertEvent]:
        """Adopts alerts that were open when the previous run stopped (from the outbox).

        An adopted alert keeps its ``alert_id``: it closes (with that id) when its
        condition clears in this run. Alerts whose rule is gone or now watches another
        target are closed at once with reason ``rule_removed``.

        Args:
            open_alerts: the ``open`` events of alerts without a close.
            at: wall time now (stamped on the closes).

        Returns:
            The close events of alerts that could not be adopted.
        """
        out: list[AlertEvent] = []
        for ev in open_alerts:
            rule = self._rules.get(ev.rule_id)
            target = Target(ev.camera_id, ev.zone_id, ev.line_id, ev.group, ev.direction)
            if rule is None or rule.kind != ev.kind or not self._watches_target(rule, target):
                out.append(self._orphan_close(ev, at))
                continue
            trig = self._triggers.setdefault((rule.id, target), Trigger())
            trig.alert_id, trig.opened_t = ev.alert_id, None
            trig.pending_since = trig.clear_since = None
        return out

    def forget_camera(self, camera_id: str, at: float) -> list[AlertEvent]:
        """Closes a removed camera's open alerts (reason ``camera_removed``) and drops its state."""
        out: list[AlertEvent] = []
        pts = self._camera_pts.pop(camera_id, None)
        for (rule_id, target), trig in list(self._triggers.items()):
            if target.camera_id != camera_id:
                continue
            rule = self._rules[rule_id]
            if trig.alert_id is not None:
                t = at if isinstance(rule, CameraOfflineRule) else pts
                out.append(
                    self._make(rule, target, trig, "close", "camera_removed", 0.0, pts, at, t)
                )
            if self._targets[rule_id] is None:
                del self._triggers[(rule_id, target)]
            else:
                trig.reset()
        for ck in self._camera_checks.get(camera_id, ()):
            if ck.times is not None:
                ck.times.clear()
        self._status_at.pop(camera_id, None)
        self._camera_state.pop(camera_id, None)
        self._seen_at.pop(camera_id, None)
        return out

    def open_alerts(self) -> list[OpenAlert]:
        """The alerts open now."""
        return [
            OpenAlert(t.alert_id, rule_id, target)
            for (rule_id, target), t in self._triggers.items()
            if t.alert_id is not None
        ]

    def state_size(self) -> int:
        """How many values the engine holds (triggers, kept crossing times, per-camera
        clocks): bounded by the rules, their targets and the cameras."""
        flows = sum(
            len(ck.times)
            for checks in self._camera_checks.values()
            for ck in checks
            if ck.times is not None
        )
        return (
            len(self._triggers)
            + flows
            + len(self._camera_pts)
            + len(self._group_pts)
            + len(self._status_at)
            + len(self._camera_state)
            + len(self._seen_at)
        )

    # ------------------------------------------------------------------ rule kinds

    def _evaluate(
        self, ck: Check, value: float, t: float, at: float, out: list[AlertEvent]
    ) -> None:
        """Steps one media-time check's trigger with one sample."""
        trig = ck.trig
        mode = ck.mode
        if mode == OCCUPANCY:
            opens, clears = value >= ck.open_at, value < ck.clear_below
        elif mode == PRESENCE:
            if value < 1.0 and trig.alert_id is None:  # empty, nothing open: no news
                trig.pending_since = None
                return
            value = 1.0 if value >= 1.0 else 0.0  # a presence alert's value: 1/0 present
            armed = ck.schedule is None or ck.schedule.contains(at)
            if trig.alert_id is not None and not armed:
                out.append(self._make(ck.rule, ck.target, trig, "close", "schedule_ended",
                                      value, t, at, t))
                return
            opens, clears = armed and value >= 1.0, value < 1.0
        else:
            opens, clears = value > ck.open_at, value <= ck.clear_below
        if trig.alert_id is None and not opens and trig.pending_since is None:
            return  # the common case: idle and staying idle
        action = trig.step(t, opens, clears, ck)
        if action is not None:
            reason = "triggered" if action == "open" else "cleared"
            out.append(self._make(ck.rule, ck.target, trig, action, reason, value, t, at, t))

    def _flow_rate(self, ck: Check, obs: CameraObservation, t: float) -> float:
        """Crossings per minute over the check's window ending at ``t``."""
        times = ck.times
        assert times is not None
        line, direction = ck.element, ck.direction
        classes = ck.rule.classes
        for c in obs.crossings:
            if c.line_id == line and (direction is None or c.direction == direction) and (
                    c.class_name in classes):
                times.append(c.pts_s)
        horizon = t - ck.window_s
        while times and times[0] <= horizon:
            times.popleft()
        return len(times) * 60.0 / ck.window_s

    def _check_offline(self, cam: str, at: float) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        state = self._camera_state[cam]
        for rule in self._offline_rules:
            if not self._watches(rule, cam):
                continue
            target = Target(camera_id=cam)
            trig = self._triggers.get((rule.id, target))
            if trig is None:
                trig = self._triggers[(rule.id, target)] = Trigger()
            is_off = state in rule.states
            action = trig.step(at, is_off, not is_off, rule)
            if action is None:
                continue
            # pending_since is when the camera went offline (its first offline check)
            since = trig.pending_since
            offline_s = at - since if is_off and since is not None else 0.0
            reason = "triggered" if action == "open" else "cleared"
            out.append(self._make(rule, target, trig, action, reason, offline_s,
                                  self._camera_pts.get(cam), at, at))
        return out

    # ------------------------------------------------------------------ helpers

    def _make(
        self,
        rule: Rule,
        target: Target,
        trig: Trigger,
        phase: str,
        reason: str,
        value: float,
        pts_s: float | None,
        at: float,
        t: float | None,
    ) -> AlertEvent:
        """Builds an open or close event and moves ``trig`` accordingly (t: rule clock)."""
        if phase == "open":
            trig.alert_id = self._new_id()
            trig.opened_t = trig.last_open_t = t
            duration = None
        else:
            duration = None if trig.opened_t is None or t is None else t - trig.opened_t
        ev = AlertEvent(
            event_id=self._new_id(),
            alert_id=trig.alert_id,
            phase=phase,
            reason=reason,
            site=self.site,
            rule_id=rule.id,
            kind=rule.kind,
            severity=rule.severity,
            camera_id=target.camera_id,
            zone_id=target.zone_id,
            line_id=target.line_id,
            group=target.group,
            direction=target.direction,
            classes=rule.classes,
            value=float(value),
            threshold=rule_threshold(rule),
            pts_s=pts_s,
            at=float(at),
            duration_s=duration,
        )
        trig.pending_since = trig.clear_since = None
        if phase == "close":
            trig.alert_id, trig.opened_t = None, None
        return ev

    def _orphan_close(self, opened: AlertEvent, at: float) -> AlertEvent:
        """The close of a restored alert whose rule is gone (reason ``rule_removed``)."""
        return dataclasses.replace(
            opened, event_id=self._new_id(), phase="close", reason="rule_removed", pts_s=None,
            at=float(at), duration_s=None,
        )

    def _advance(self, clocks: dict[str, float], key: str, pts_s: float, what: str) -> float:
        pts = float(pts_s)
        if not math.isfinite(pts):
            raise InputError(f"{what} {key!r}: pts_s must be finite, got {pts_s}", "pts_s")
        last = clocks.get(key, -math.inf)
        if pts < last:
            raise InputError(
                f"{what} {key!r}: pts_s went backwards from {last} to {pts}; media time must "
                "not decrease (forget_camera() or reset() after a restart)",
                "pts_s",
            )
        clocks[key] = pts
        return pts

    def _wall(self, cam: str, at: float) -> float:
        """Wall time of a camera's offline clock; a clock step backwards holds it still."""
        t = max(float(at), self._status_at.get(cam, -math.inf))
        self._status_at[cam] = t
        return t

    def _watches_target(self, rule: Rule, target: Target) -> bool:
        wanted = self._targets[rule.id]
        if wanted is None:  # camera_offline over every camera: one target per camera
            return target.camera_id is not None and target == Target(camera_id=target.camera_id)
        return wanted == target

    def _watches(self, rule: CameraOfflineRule, cam: str) -> bool:
        return rule.camera_id is None or rule.camera_id == cam

    def _offline_applies(self, cam: str) -> bool:
        return any(self._watches(r, cam) for r in self._offline_rules)

    def _missing(self, ck: Check, what: str) -> None:
        rule = ck.rule
        if rule.id not in self._warned:
            self._warned.add(rule.id)
            logger.warning(
                "alert rule %r: camera %r reports no %s %r; the rule is not checked",
                rule.id, ck.target.camera_id, what, ck.element,
            )
