"""A live camera whose stream stops for 30 s: its windows show coverage < 1 (and none
with zero people where it saw nothing), written while the outage lasts, and a
camera_offline alert opens and closes."""

import time

import numpy as np
import pandas as pd
import pytest

from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig
from tests.images import astronaut_rgb, encode
from tests.mjpeg_server import MjpegServer

pytestmark = pytest.mark.cluster

OUTAGE_S = 30.0
WINDOW_S = 5.0  # short windows: the first closes soon, and the outage spans several


def _wait(what: str, check, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_camera_stopped_for_30_s_shows_coverage_below_1_and_an_offline_alert(
        serve_app, tmp_path):
    jpegs = [encode(np.roll(astronaut_rgb(), 40 * i, axis=1)) for i in range(4)]
    server = MjpegServer(jpegs, fps=10).start()
    cfg = SiteConfig.model_validate({
        "cameras": [{"id": "door", "url": server.url, "mode": "live",
                     "source": {"read_timeout_s": 1.0},
                     "reconnect": {"initial_s": 0.5, "max_s": 2.0},
                     "zones": [{"id": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}],
        "analytics": {"window_s": WINDOW_S, "window_grace_s": 2, "min_distinct_tracks": 1},
        "ray": {"camera_check_interval_s": 0.5},
        "alerts": {"check_interval_s": 0.5, "rules": [
            {"id": "door-down", "kind": "camera_offline", "for_s": 5, "severity": "critical"}]},
    })
    runner = PipelineRunner(cfg, RunOptions(output_dir=tmp_path / "out"),
                            detector=serve_app["handle"])
    out = tmp_path / "out"
    try:
        runner.start()
        _wait("the first closed window", lambda: list(out.glob("metrics/*/*/*.parquet")))
        server.paused.set()
        paused_at = time.time()
        # the outage's windows are written while it lasts (they waited for its end)
        _wait("an empty window in the history during the outage", lambda: any(
            w["frames"] == 0 for w in ray_get(runner.controller.history.remote("door"))[
                "cameras"]["door"]), timeout_s=OUTAGE_S - 5)
        time.sleep(max(0.0, paused_at + OUTAGE_S - time.time()))
        opened = pd.read_parquet(out / "alerts") if (out / "alerts").exists() else None
        server.paused.clear()
        # the outage's windows close, then one whole window more
        _wait("the alert to close and a whole window after the outage", lambda: _resumed(out))
        view = ray_get(runner.controller.alerts.remote())
    finally:
        runner.shutdown()
        server.close()
    assert opened is not None and (opened.phase == "open").any(), "no alert during the outage"
    alerts = pd.read_parquet(out / "alerts").sort_values("at")
    assert alerts.phase.tolist() == ["open", "close"]
    assert set(alerts.rule_id) == {"door-down"} and set(alerts.camera_id) == {"door"}
    assert alerts.alert_id.nunique() == 1
    open_at, close_at = alerts["at"].tolist()
    assert paused_at + 5 <= open_at <= paused_at + 12  # for_s after it went down
    assert paused_at + OUTAGE_S <= close_at <= paused_at + OUTAGE_S + 15
    assert view["open"] == []

    metrics = pd.read_parquet(out / "metrics").sort_values("window_start_s")
    assert metrics.coverage.notna().all()
    full = metrics[metrics.complete]
    assert (full.coverage > 0.95).sum() >= 2  # before and after the outage
    assert ((full.coverage < 0.9) & (full.frames > 0)).sum() >= 1  # partly down
    empty = full[full.frames == 0]  # the outage covers all its windows but the two at its ends
    assert len(empty) >= OUTAGE_S // WINDOW_S - 1
    assert (empty.coverage == 0).all() and empty.occupancy_mean.isna().all()
    down_s = sum((1 - c) * WINDOW_S for c in full.coverage)
    assert OUTAGE_S - 3 <= down_s <= OUTAGE_S + 8, down_s  # the outage, plus reconnecting


def _resumed(out) -> bool:
    """True once the offline alert has closed and a whole window after the outage's empty
    ones, with full coverage, is written: everything the assertions look at."""
    if not list(out.glob("alerts/**/*.parquet")) or not list(out.glob("metrics/**/*.parquet")):
        return False
    if "close" not in set(pd.read_parquet(out / "alerts").phase):
        return False
    full = pd.read_parquet(out / "metrics").query("complete")
    empty = full[full.frames == 0]
    after = full[full.window_start_s > empty.window_start_s.max()] if len(empty) else full[:0]
    return bool((after.coverage > 0.95).any())


def ray_get(ref):
    import ray

    return ray.get(ref, timeout=60)
