"""The alerting parts wired as the aggregator will host them, for the sink tests."""

from __future__ import annotations

import time

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.delivery import DeliveryWorker, build_sinks
from pipeline.alerts.engine import RuleEngine
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.inputs import CameraObservation
from pipeline.alerts.sink import AlertSink

T0 = 1_800_000_000.0
CROWD_RULE = {"id": "crowd", "kind": "occupancy", "camera_id": "c1", "zone_id": "z",
              "threshold": 3, "for_s": 0, "clear_for_s": 0, "min_interval_s": 0}
"""Opens at 3 people or more and closes below 2, at once."""


class Site:
    """An engine, an outbox and a running delivery worker.

    Args:
        cfg: the alerts config (rules, sinks, outbox).
        sinks: the sinks; None builds them from ``cfg``.
    """

    def __init__(self, cfg: AlertsConfig, sinks: list[AlertSink] | None = None) -> None:
        from pipeline.alerts.outbox import Outbox

        self.engine = RuleEngine(cfg.rules, cfg.site)
        self.outbox = Outbox(cfg.outbox, [s.name for s in cfg.sinks])
        self.sinks = build_sinks(cfg) if sinks is None else sinks
        self.worker = DeliveryWorker(self.outbox, self.sinks)
        self.worker.start()
        self.t = 0.0
        self.fired: list[AlertEvent] = []

    def fire(self, alerts: int) -> None:
        """Opens and closes ``alerts`` alerts (two events each), one observation a second."""
        for _ in range(alerts):
            for n in (5, 0):
                self.t += 1.0
                obs = CameraObservation("c1", self.t, T0 + self.t, {"z": n})
                events = self.engine.observe(obs)
                self.outbox.add(events)  # on disk before any delivery is tried
                self.worker.notify()
                self.fired += events

    def wait(self, sink: str, condition, timeout_s: float = 15.0) -> bool:
        """Waits until ``condition(stats of sink)`` holds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self.worker.stats()[sink]):
                return True
            time.sleep(0.02)
        return False

    def wait_delivered(self, sink: str, timeout_s: float = 15.0) -> bool:
        return self.wait(sink, lambda s: s.pending == 0, timeout_s)

    def stop(self) -> None:
        self.worker.stop()
        self.outbox.close()
