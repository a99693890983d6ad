"""The alerts actor: one per run, hosting :class:`~pipeline.alerts.runtime.AlertRuntime`.

Aggregators send it their cameras' sampled observations (fire and forget, in media-time
order per camera); the supervisor sends it camera states. A thread checks
``camera_offline`` rules every ``alerts.check_interval_s``, writes the ``alerts`` table
and exports every sink's counters as Ray metrics (Prometheus):

    panoray_alert_sink_delivered_total{sink}   events the sink acknowledged
    panoray_alert_sink_failed_total{sink}      failed delivery attempts
    panoray_alert_sink_dropped_total{sink}     events dropped for it (outbox full)
    panoray_alert_sink_pending{sink}           events waiting for it in the outbox
    panoray_alerts_total                       alert events (opens and closes)
    panoray_group_occupancy{group}             a zone group's sum (an upper bound)
    panoray_site_occupancy                     people inside from the entrance lines

It is an actor rather than part of the controller so that a slow sink or a busy outbox
never delays camera supervision or the HTTP API's reads, and rather than part of the
driver because the driver of a Ray job may run anywhere (it is placed on the driver's
node like the aggregators, beside the outbox file).

With a checkpoint path (a run with a sink), the rules' timers and open alerts, the zone
groups' and the site's figures are saved there every ``alerts.check_interval_s`` and as
the actor's process exits without :meth:`AlertsActor.close` (its controller died); the
alerts actor of the resumed run (:mod:`pipeline.sinks.resume`) starts from them. A clean
close deletes it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from ray.util import metrics

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.inputs import CameraObservation, CameraStatus
from pipeline.alerts.runtime import AlertRuntime
from pipeline.alerts.table import TableRetention
from pipeline.analytics.groups import ZoneGroupConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.sinks.checkpoint import (
    HOLDER_WAIT_S,
    drop_checkpoint,
    hold,
    holder_path,
    write_checkpoint,
)
from pipeline.sinks.parquet import ParquetSinkConfig
from pipeline.sinks.retention import apply_retention

logger = logging.getLogger(__name__)

ALERTS_NUM_CPUS = 0.05
"""Logical CPUs reserved by the alerts actor: it checks a few samples a second and waits
on sinks."""


class AlertMetrics:
    """Every sink's counters as Ray metrics, tagged by sink name (never URL)."""

    def __init__(self) -> None:
        tags = ("sink",)
        self.counters = {
            "delivered_total": metrics.Counter(
                "panoray_alert_sink_delivered_total", "Alert events a sink acknowledged.",
                tag_keys=tags),
            "failed_total": metrics.Counter(
                "panoray_alert_sink_failed_total", "Failed alert delivery attempts.",
                tag_keys=tags),
            "dropped_total": metrics.Counter(
                "panoray_alert_sink_dropped_total",
                "Alert events dropped for a sink because the outbox was full.", tag_keys=tags),
        }
        self.pending = metrics.Gauge(
            "panoray_alert_sink_pending", "Alert events waiting for a sink in the outbox.",
            tag_keys=tags)
        self.events = metrics.Counter("panoray_alerts_total",
                                      "Alert events (opens and closes) this run.")
        self.groups = metrics.Gauge(
            "panoray_group_occupancy",
            "A zone group's summed occupancy (an upper bound where views overlap).",
            tag_keys=("group",))
        self.site = metrics.Gauge("panoray_site_occupancy",
                                  "People inside from the entrance lines (in minus out).")
        self._last: dict[tuple[str, str], int] = {}
        self._events = 0

    def export(self, sinks: dict[str, dict[str, Any]], events_total: int,
               flows: dict[str, Any]) -> None:
        """Adds each counter's increase since the last export; sets the gauges."""
        for group, value in flows["groups"].items():
            self.groups.set(value, {"group": group})
        if "site_occupancy" in flows:
            self.site.set(flows["site_occupancy"]["value"])
        for sink, stats in sinks.items():
            for name, counter in self.counters.items():
                value = int(stats[name])
                delta = value - self._last.get((sink, name), 0)
                if delta > 0:
                    counter.inc(delta, {"sink": sink})
                self._last[(sink, name)] = value
            self.pending.set(stats["pending"], {"sink": sink})
        if events_total > self._events:
            self.events.inc(events_total - self._events)
            self._events = events_total


def table_retention(sinks: Sequence[Any]) -> TableRetention | None:
    """The retention of the first Parquet sink (the one whose root the tables share,
    ``SiteConfig.output_dir``), or None without one."""
    parquet = next((s for s in sinks if isinstance(s, ParquetSinkConfig)), None)
    return None if parquet is None else TableRetention.of_sink(parquet, apply_retention)


@ray.remote(num_cpus=ALERTS_NUM_CPUS, max_restarts=0)
class AlertsActor:
    """Hosts the run's alerting (arguments: those of :class:`AlertRuntime`, and
    ``checkpoint``: where its state is saved, and read back when it exists: see the
    module docstring; ``sinks``: the run's sinks, whose first Parquet sink's retention
    the ``alerts`` and ``site`` tables keep)."""

    def __init__(self, config: AlertsConfig, groups: Sequence[ZoneGroupConfig],
                 root: str | None, run_id: str, flows: SiteFlowsConfig | None = None,
                 env: dict[str, str] | None = None, checkpoint: str | None = None,
                 sinks: Sequence[Any] = ()) -> None:
        logging.basicConfig(level=logging.INFO)
        self._checkpoint = Path(checkpoint) if checkpoint else None
        self._holder: int | None = None
        self._saved = b""  # the state last written (an unchanged one is not written again)
        self._save_lock = threading.Lock()  # the tick thread saves, and close
        state = None
        if self._checkpoint is not None:  # the actor it replaces is gone, or waited for
            self._holder = hold(holder_path(self._checkpoint), HOLDER_WAIT_S)
            if self._checkpoint.is_file():
                state = self._checkpoint.read_bytes()
                logger.warning("alerts: going on from the state saved in %s", self._checkpoint)
        self._runtime = AlertRuntime(config, groups, root, run_id, flows, env, state,
                                     table_retention(sinks))
        self._metrics = AlertMetrics()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerts-tick", daemon=True)
        self._thread.start()
        self._closed = False
        # A graceful actor exit (every actor of a controller that died) runs atexit.
        atexit.register(self._on_exit)

    def ready(self) -> bool:
        """True once constructed (sinks built, outbox open, open alerts restored)."""
        return True

    def observe(self, observations: list[CameraObservation]) -> None:
        """Checks the rules on an aggregator's samples."""
        self._runtime.observe(observations)

    def camera_states(self, statuses: list[CameraStatus]) -> None:
        """Notes cameras' states for ``camera_offline`` rules."""
        self._runtime.camera_states(statuses)

    def forget_camera(self, camera_id: str) -> None:
        """A camera was removed (its last samples taken): its open alerts close."""
        self._runtime.forget_camera(camera_id, time.time())

    def camera_added(self, camera_id: str) -> None:
        """A camera was added: its samples start a new timeline."""
        self._runtime.camera_added(camera_id)

    def view(self) -> dict[str, Any]:
        """Open alerts, recent events, group sums and every sink's counters (JSON-ready)."""
        return self._runtime.view()

    def close(self, keep_state: bool = False) -> None:
        """Stops the tick, writes the table, drains the sinks for ``stop_drain_s``;
        deletes the saved state, or with ``keep_state`` saves it one last time."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(10.0)
        if keep_state:
            self._save()
        self._runtime.close(time.time())
        self._export()
        if self._checkpoint is not None and not keep_state:
            drop_checkpoint(self._checkpoint)
        if self._holder is not None:
            os.close(self._holder)
            self._holder = None

    def _on_exit(self) -> None:
        """The process exits without :meth:`close`: the state is saved and kept for a
        resumed run."""
        self.close(keep_state=True)

    def _save(self) -> None:
        if self._checkpoint is None:
            return
        with self._save_lock:
            state = self._runtime.state()
            if state == self._saved:
                return
            try:
                write_checkpoint(self._checkpoint, state)
                self._saved = state
            except OSError as exc:  # the previous one stays; saved again next tick
                logger.error("alerts: state not saved: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self._runtime.config.check_interval_s):
            try:
                self._runtime.tick(time.time())
                self._export()
                self._save()
            except Exception:  # noqa: BLE001 - alerting must go on
                logger.exception("alerts: periodic check failed")

    def _export(self) -> None:
        self._metrics.export(self._runtime.sink_stats(), self._runtime.events_total,
                             self._runtime.flows_view())
