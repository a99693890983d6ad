"""The run's alerting: rules checked on the aggregators' samples, events stored and sent.

One :class:`AlertRuntime` per run (hosted by ``actors.alerts_actor``) holds the
:class:`~pipeline.alerts.engine.RuleEngine`, the zone groups' sums, the durable
:class:`~pipeline.alerts.outbox.Outbox`, the :class:`~pipeline.alerts.delivery.DeliveryWorker`
that drains it into the webhook and MQTT sinks, and the Parquet ``alerts`` table:

    aggregators ─CameraObservation (sampled, media time)─▶ AlertRuntime ─▶ outbox ─▶ sinks
    supervisor ──CameraStatus (wall time)──────────────────▶   │ RuleEngine  └──▶ alerts/ Parquet

Each sample counts once: a camera's samples are applied in media-time order, and one
whose frame is not newer than the last applied, or a crossing not after it, was applied
already (an aggregator restored from its checkpoint replays the frames after it, and
sends again the samples a re-created alerts actor may have missed) and is skipped.

Why one per run, not one per aggregator: zone groups sum zones that different
aggregators host, ``camera_offline`` rules read camera states only the controller knows,
and the outbox's SQLite file wants one writer. Every event goes to the outbox (when
sinks are configured) before any delivery is tried, and to the table. Live counts (an
MQTT sink's ``live_counts``: each sample's zone and line figures, the groups' sums) are
state, not events: they go straight to those sinks, retained, only when they changed.

Example:
    >>> rt = AlertRuntime(AlertsConfig.model_validate({"rules": [{"id": "crowd",
    ...     "kind": "occupancy", "camera_id": "c1", "zone_id": "z", "threshold": 2,
    ...     "for_s": 0, "min_interval_s": 0}]}), groups=(), root=None, run_id="r")
    >>> [e.phase for e in rt.observe([CameraObservation("c1", 1.0, 1.8e9, {"z": 3})])]
    ['open']
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.delivery import DeliveryWorker, build_sinks
from pipeline.alerts.engine import RuleEngine
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.flows import SiteFlows, site_rows_to_table
from pipeline.alerts.inputs import CameraObservation, CameraStatus, GroupObservation
from pipeline.alerts.mqtt import MqttSink
from pipeline.alerts.outbox import Outbox
from pipeline.alerts.table import AlertsTable, DatedTable, TableRetention
from pipeline.analytics.groups import ZoneGroupConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.errors import InputError

logger = logging.getLogger(__name__)

MAX_RECENT = 100
"""Latest alert events kept for the API (bounded)."""

MAX_GONE = 4096
"""Removed cameras whose newest sample applied is kept, to skip their samples sent again."""


class AlertRuntime:
    """Rules, outbox, delivery and the alerts table of one run. Thread-safe.

    Args:
        config: the site's ``alerts:`` section.
        groups: the site's zone groups.
        root: the Parquet sink's root (the ``alerts`` table goes there), or None.
        run_id: the run's id (written beside every row).
        flows: the site occupancy and how often site figures are recorded.
        env: sink secrets read by the driver (variable name -> value); this process's
            environment fills in the others.
        state: what :meth:`state` returned in the run this one resumes (its controller
            died): the rules' timers and open alerts, the groups' and the site's figures
            go on from there.
        retention: the Parquet sink's retention for the ``alerts`` and ``site`` tables;
            None keeps them forever.

    Raises:
        ConfigError: a sink's secret or credentials are missing.
        OutboxError: the outbox file cannot be opened.
    """

    def __init__(self, config: AlertsConfig, groups: Sequence[ZoneGroupConfig],
                 root: str | os.PathLike[str] | None, run_id: str,
                 flows: SiteFlowsConfig | None = None, env: dict[str, str] | None = None,
                 state: bytes | None = None, retention: TableRetention | None = None) -> None:
        self.config = config
        self.engine = RuleEngine(config.rules, config.site)
        self.flows = SiteFlows(groups, flows or SiteFlowsConfig())
        # per camera, media time of the newest sample applied (see _news); removed cameras'
        # in _gone (the latest MAX_GONE), until one is added again
        self._applied: dict[str, float] = {}
        self._gone: OrderedDict[str, float] = OrderedDict()
        if state is not None:
            try:  # this run's own
                self.engine, self.flows, self._applied, self._gone = pickle.loads(state)  # noqa: S301
            except Exception as exc:  # noqa: BLE001 - alerting starts afresh instead
                logger.error("alerts: saved state unreadable (%s); starting afresh",
                             type(exc).__name__)
        self.table = AlertsTable(root, run_id, retention) if root is not None else None
        self.site_table = (DatedTable(root, "site", run_id, site_rows_to_table, retention)
                           if root is not None else None)
        self.outbox: Outbox | None = None
        self.worker: DeliveryWorker | None = None
        self._live: list[MqttSink] = []  # sinks that publish live counts (their own pace)
        self._lock = threading.Lock()
        self._recent: list[dict[str, Any]] = []
        self.events_total = 0
        self.dropped_observations = 0
        self.repeated_observations = 0  # samples applied already, skipped
        if config.sinks:
            assert config.outbox is not None  # AlertsConfig checks it
            self.outbox = Outbox(config.outbox, [s.name for s in config.sinks])
            try:
                # the driver's secrets first, then this process's environment
                sinks = build_sinks(config, {**os.environ, **(env or {})})
                self.worker = DeliveryWorker(self.outbox, sinks)
            except BaseException:
                self.outbox.close()
                raise
            # Alerts open when the previous run stopped close under their own ids here.
            self._emit(self.engine.restore(self.outbox.open_alerts(), at=time.time()))
            self.worker.start()
            self._live = [s for s in sinks if isinstance(s, MqttSink) and s.config.live_counts]

    # ------------------------------------------------------------------ inputs

    def observe(self, observations: Sequence[CameraObservation]) -> list[AlertEvent]:
        """Checks the rules on aggregators' samples (each camera's in media-time order),
        and the groups their zones belong to."""
        out: list[AlertEvent] = []
        with self._lock:
            for sample in observations:
                obs = self._news(sample)
                if obs is None:
                    continue
                try:
                    out += self.engine.observe(obs)
                    groups = self.flows.observe(obs)
                    for group in groups:
                        out += self.engine.observe_group(group)
                except InputError as exc:  # e.g. media time going back: skip the sample
                    self.dropped_observations += 1
                    logger.warning("alerts: sample of camera %s skipped: %s",
                                   obs.camera_id, exc)
                    continue
                self._publish_live(obs, groups)
            self._emit(out)
        return out

    def _news(self, obs: CameraObservation) -> CameraObservation | None:
        """``obs`` without the crossings an earlier sample of its camera brought (those not
        after its frame); None when its frame is not newer than the last applied: it was
        sent again, and applied already."""
        cam = obs.camera_id
        last = self._applied.get(cam, self._gone.get(cam))  # a removed one's, sent again
        if not math.isfinite(obs.pts_s):
            return obs  # the engine says what is wrong with it
        if last is not None:
            if obs.pts_s <= last:
                self.repeated_observations += 1
                return None
            if obs.crossings and obs.crossings[0].pts_s <= last:
                obs = replace(obs, crossings=tuple(c for c in obs.crossings if c.pts_s > last))
        self._applied[cam] = obs.pts_s
        return obs

    def camera_added(self, camera_id: str) -> None:
        """A camera was added (again, maybe, under an id removed before): its samples
        start a new timeline."""
        with self._lock:
            self._applied.pop(camera_id, None)
            self._gone.pop(camera_id, None)

    def camera_states(self, statuses: Sequence[CameraStatus]) -> list[AlertEvent]:
        """Notes cameras' states (from the supervisor) for ``camera_offline`` rules."""
        out: list[AlertEvent] = []
        with self._lock:
            for status in statuses:
                out += self.engine.camera_status(status)
            self._emit(out)
        return out

    def tick(self, at: float) -> list[AlertEvent]:
        """Checks ``camera_offline`` rules at wall time ``at``, records the site figures
        when due and writes the tables."""
        with self._lock:
            out = self.engine.tick(at)
            self._emit(out)
            rows = self.flows.due(at)
            if self.site_table is not None:
                self.site_table.add(rows)
                self.site_table.try_flush()
            if self.table is not None:
                self.table.try_flush()
        return out

    def forget_camera(self, camera_id: str, at: float) -> list[AlertEvent]:
        """A camera was removed: its open alerts close (``camera_removed``), its group
        zones count as empty."""
        with self._lock:
            out = self.engine.forget_camera(camera_id, at)
            groups = self.flows.forget_camera(camera_id, at)
            if camera_id in self._applied:  # its samples may still come again
                self._gone[camera_id] = self._applied.pop(camera_id)
                self._gone.move_to_end(camera_id)
                while len(self._gone) > MAX_GONE:
                    self._gone.popitem(last=False)
            for group in groups:
                out += self.engine.observe_group(group)
            self._emit(out)
            for sink in self._live:  # its retained figures go, its groups' sums follow
                self._publish(sink, sink.forget_camera, camera_id)
            self._publish_live(None, groups)
        return out

    # ------------------------------------------------------------------ reads

    def view(self) -> dict[str, Any]:
        """JSON-ready: open alerts, the latest events, group sums and every sink's counters."""
        with self._lock:
            open_alerts = [
                {"alert_id": a.alert_id, "rule_id": a.rule_id, **{
                    k: v for k, v in asdict(a.target).items() if v is not None}}
                for a in self.engine.open_alerts()]
            recent = list(self._recent)
            flows = self.flows.view()
        return {"site": self.config.site, "open": open_alerts, "recent": recent,
                "events_total": self.events_total, **flows, "sinks": self.sink_stats()}

    def flows_view(self) -> dict[str, Any]:
        """Zone groups' sums and the site occupancy now (JSON-ready)."""
        with self._lock:
            return self.flows.view()

    def sink_stats(self) -> dict[str, dict[str, Any]]:
        """Per sink: delivered, failed, pending, dropped, last error (credentials masked)."""
        if self.worker is None:
            return {}
        return {name: asdict(s) for name, s in self.worker.stats().items()}

    # ------------------------------------------------------------------ life cycle

    def state(self) -> bytes:
        """The rules' and flows' state and each camera's newest sample applied, pickled (a
        few KB): what a runtime resuming this run starts from (``state=``)."""
        with self._lock:
            return pickle.dumps((self.engine, self.flows, self._applied, self._gone),
                                protocol=pickle.HIGHEST_PROTOCOL)

    def close(self, at: float | None = None) -> None:
        """Writes the table, gives the sinks ``stop_drain_s`` to deliver what is pending,
        then stops them; what is left waits in the outbox for the next start. With ``at``
        (wall time), records the site figures one last time first: an offline run's last
        samples come after the last periodic row."""
        with self._lock:
            if self.table is not None:
                self.table.try_flush()
            if self.site_table is not None:
                if at is not None:
                    self.site_table.add(self.flows.due(at, final=True))
                self.site_table.try_flush()
        if self.worker is None:
            return
        deadline = time.monotonic() + self.config.stop_drain_s
        while time.monotonic() < deadline and any(
                s["pending"] for s in self.sink_stats().values()):
            time.sleep(0.05)
        self.worker.stop()
        assert self.outbox is not None
        self.outbox.close()
        self.worker = None
        self._live = []  # closed with the worker

    def _publish_live(self, obs: CameraObservation | None,
                      groups: Sequence[GroupObservation]) -> None:
        """Hands a sample's live counts and its groups' new sums to the live sinks."""
        for sink in self._live:
            if obs is not None and obs.live is not None:
                self._publish(sink, sink.publish_live, obs.live, obs.at)
            for g in groups:
                self._publish(sink, sink.publish_group, g.group, g.occupancy, g.pts_s, g.at)

    @staticmethod
    def _publish(sink: MqttSink, publish: Callable[..., Any], *args: Any) -> None:
        try:  # live counts are state, sent again when they change: a failure is logged
            publish(*args)
        except Exception as exc:  # noqa: BLE001 - alerting must go on
            logger.warning("alerts: live counts to sink %s failed: %s", sink.name, exc)

    def _emit(self, events: Sequence[AlertEvent]) -> None:
        """Stores events: outbox first (durable), then the table and the recent list."""
        if not events:
            return
        if self.outbox is not None:
            self.outbox.add(events)
            assert self.worker is not None
            self.worker.notify()
        if self.table is not None:
            self.table.add(events)
        self.events_total += len(events)
        for e in events:
            logger.info("alert %s %s: rule %s value %.6g (%s)", e.phase, e.alert_id,
                        e.rule_id, e.value, e.reason)
        self._recent = [*self._recent, *(e.to_dict() for e in events)][-MAX_RECENT:]
