"""panoray's alerting in a process of its own, for the tests to SIGKILL and start again.

It runs the real parts as the aggregator will host them: the rule engine, the outbox
file, the delivery worker and the webhook sink. The shared secret comes from
``PANORAY_TEST_WEBHOOK_SECRET``.

    python -m tests.alerts_process OUTBOX URL open    # restore, open an alert, print
                                                      # "OPENED <alert_id>", then
                                                      # "DELIVERED" once the receiver has it;
                                                      # then wait to be killed
    python -m tests.alerts_process OUTBOX URL close   # restore the open alert, close it,
                                                      # deliver everything, print "DONE"
"""

from __future__ import annotations

import sys
import time

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.delivery import DeliveryWorker, build_sinks
from pipeline.alerts.engine import RuleEngine
from pipeline.alerts.inputs import CameraObservation
from pipeline.alerts.outbox import Outbox


def config(outbox: str, url: str) -> AlertsConfig:
    return AlertsConfig.model_validate({
        "site": "hq",
        "rules": [{"id": "crowd", "kind": "occupancy", "camera_id": "c1", "zone_id": "z",
                   "threshold": 3, "for_s": 1, "clear_for_s": 1, "min_interval_s": 0}],
        "sinks": [{"type": "webhook", "name": "ops", "url": url,
                   "secret_env": "PANORAY_TEST_WEBHOOK_SECRET", "timeout_s": 30,
                   "retry": {"initial_s": 0.05, "max_s": 0.3}}],
        "outbox": {"path": outbox},
    })


def say(line: str) -> None:
    """Writes one whole line in one write: unbuffered (PYTHONUNBUFFERED), print() writes its
    parts apart, and the delivery worker's log lines on the same pipe can land between."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(outbox_path: str, url: str, phase: str) -> int:
    cfg = config(outbox_path, url)
    engine = RuleEngine(cfg.rules, cfg.site)
    outbox = Outbox(cfg.outbox, [s.name for s in cfg.sinks])
    worker = DeliveryWorker(outbox, build_sinks(cfg))
    outbox.add(engine.restore(outbox.open_alerts(), at=time.time()))
    worker.start()
    occupancy = 5 if phase == "open" else 0
    for i in range(30):  # 3 s of media time at 10 observations a second
        t = i / 10
        events = engine.observe(CameraObservation("c1", t, time.time(), {"z": occupancy}))
        outbox.add(events)  # on disk before any delivery is tried
        worker.notify()
        for e in events:
            say(f"{'OPENED' if e.phase == 'open' else 'CLOSED'} {e.alert_id}")
    while outbox.pending_count("ops"):
        time.sleep(0.02)
    say("DELIVERED" if phase == "open" else "DONE")
    if phase == "open":
        time.sleep(600)  # the test kills the process here, between the alert's open and close
    worker.stop()
    outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
