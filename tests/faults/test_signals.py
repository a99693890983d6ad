"""SIGTERM and SIGKILL to `panoray run` itself: separate processes with their own Ray.

Each run is its own session (``start_new_session``), so that a signal can go to its whole
process group, as systemd and container runtimes send it, and so that a test can clean up
the Ray processes a killed driver leaves behind.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time


from tests.conftest import free_port
from tests.faults.harness import CAMERAS, ROOT, read_output, site

EXIT_SIGTERM = 128 + signal.SIGTERM


class Run:
    """``python -m pipeline run`` in its own session and Ray temporary folder."""

    def __init__(self, tmp: pathlib.Path, config: dict, out: pathlib.Path, name: str) -> None:
        self.log_path = tmp / f"{name}.log"
        path = tmp / f"{name}.yaml"
        path.write_text(json.dumps({**config, "http": {"port": free_port()}}))
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="pf-ray-", dir="/tmp")
        self.ray_dir = pathlib.Path(env["RAY_TMPDIR"])
        self._log = open(self.log_path, "w+")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(path), "--output", str(out)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
            start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, what: str, check, timeout: float = 150.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited before {what}\n{self.text()[-3000:]}"
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.text()[-3000:]}")

    def group(self, sig: int) -> None:
        """Sends ``sig`` to every process of the run's session, as systemd does."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def summary(self) -> dict:
        text = self.text()
        start = text.rindex("\n{\n")
        return json.loads(text[start:text.index("\n}\n", start) + 2])

    def close(self) -> None:
        """Kills whatever is left of the run (its Ray processes included)."""
        self.group(signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait()
        self._log.close()


def whole_output(out: pathlib.Path) -> dict[str, int]:
    """Every output file and its size (not the runs' private checkpoints, which a killed
    run's last actors may still touch as they die); every Parquet file is read whole."""
    read_output(out)
    return {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*")
            if p.is_file() and not any(part.startswith(".") for p in [p.relative_to(out)]
                                       for part in p.parts)}


def live_site(out: pathlib.Path) -> dict:
    """The fault config, live and looping, sized to start all three cameras on 2 cores,
    with 2 s windows: the first closes 4 s of media after the start instead of 7."""
    cfg = site(out, frames=None, mode="live")
    for cam in cfg["cameras"]:
        cam["placement"] = {"num_cpus": 0.1}
    analytics = {**cfg["analytics"], "window_s": 2}
    return {**cfg, "analytics": analytics, "serving": {"replicas": 1},
            "run": {"shutdown_timeout_s": 30}}


def test_sigterm_to_the_driver_mid_run_and_to_the_process_group_during_shutdown(
        tmp_path) -> None:
    """``kill PID`` (as ``docker stop`` sends it) mid-run stops the run cleanly, and a
    second SIGTERM, to the whole process group (as systemd sends it) while the shutdown
    still needs Ray's processes, neither kills them nor cuts the shutdown short."""
    out = tmp_path / "out"
    run = Run(tmp_path, live_site(out), out, "live")
    try:
        run.wait_until("every camera started", lambda: "pipeline started: 3" in run.text())
        run.wait_until("a closed window", lambda: list(out.glob("metrics/*/*/*.parquet")))
        # every camera has delivered frames (on 2 busy cores one may start late), so each
        # has an open window for the stop to write
        run.wait_until("frames from every camera", lambda: all(
            re.search(rf"\[{cam}\] streaming fps=\S+ frames=[1-9]", run.text())
            for cam in CAMERAS))
        os.kill(run.proc.pid, signal.SIGTERM)  # the driver alone
        run.wait_until("the shutdown", lambda: "shutting down cleanly" in run.text(), 30)
        time.sleep(0.5)
        run.group(signal.SIGTERM)  # again, to every process, while it shuts down
        sent = time.monotonic()
        assert run.proc.wait(timeout=90) == EXIT_SIGTERM, run.text()[-3000:]
        stop_s = time.monotonic() - sent
    finally:
        run.close()
    assert "panoray: stopped; shutting down cleanly" in run.text()
    summary = run.summary()
    assert set(summary["cameras"]) == set(CAMERAS) and not summary.get("error")
    tables = read_output(out)
    assert set(tables["events"].camera_id) <= set(CAMERAS)
    assert set(tables["metrics"].camera_id) == set(CAMERAS)
    assert (~tables["metrics"].complete).any()  # the windows open at SIGTERM
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left"
    assert not list(out.rglob("*.pkl")), "checkpoints left after a clean stop"
    print(f"driver then group SIGTERM: clean stop in {stop_s:.1f} s, "
          f"{len(tables['events'])} events, {len(tables['metrics'])} metric rows")


def test_killed_driver_leaves_whole_files_and_the_next_run_recovers_its_checkpoints(
        tmp_path) -> None:
    out = tmp_path / "out"
    first = Run(tmp_path, live_site(out), out, "first")
    try:
        # every camera placed (each then in a checkpoint), and a window written
        first.wait_until("a closed window", lambda: "pipeline started" in first.text()
                         and list(out.glob("metrics/*/*/*.parquet")))
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
    finally:
        first.close()
    before = whole_output(out)  # every Parquet file is whole
    assert any(p.startswith("heatmaps/") for p in before)
    orphans = sorted(p.parent.name for p in out.glob(".checkpoints/*/aggregator-*.pkl"))
    assert orphans, "the killed run left no checkpoint"
    # the driver kept its unfinished cameras noted in its lock, for the next run, and its
    # config's fingerprint: the same config started again soon would resume the run
    # (test_actor_kills); a next run of another config writes the checkpoints out
    note = json.loads((out / ".checkpoints" / f"{orphans[0]}.lock").read_text())
    assert note["cameras"] == sorted(CAMERAS) and len(note["fingerprint"]) == 32, note
    other = live_site(out)
    other["analytics"] = {**other["analytics"], "window_s": 3}

    second = Run(tmp_path, other, out, "second")
    try:  # SIGTERM while Ray is still starting, before the detector's deploy
        second.wait_until("Ray to start", lambda: list(second.ray_dir.glob("ray/session_2*")))
        second.group(signal.SIGTERM)
        sent = time.monotonic()
        assert second.proc.wait(timeout=120) == EXIT_SIGTERM, second.text()[-3000:]
        stop_s = time.monotonic() - sent
    finally:
        second.close()
    # the detector's deploy (seconds of model loading) was cut short, not waited out
    text = second.text()
    assert "serving on" not in text, "the deploy was waited out"
    assert "stopped while the detector was being deployed" in text, text[-3000:]
    summary = second.summary()
    assert summary["run_id"] and not summary.get("error")
    assert summary["stopped"] == "during start-up", summary
    # the second run wrote what the first one's checkpoints held, beside its files
    assert sorted(summary["recovered_runs"]) == sorted(set(orphans)), summary
    recovered = summary["recovered_runs"][orphans[0]]
    assert recovered["cameras"] == sorted(CAMERAS) and recovered["unrecovered"] == [], summary
    assert not list(out.glob(f".checkpoints/{orphans[0]}/*.pkl"))
    after = whole_output(out)
    assert {p: after.get(p) for p in before} == before, "the second run changed the first's"
    tables = read_output(out)
    lost = tables["incidents"]
    assert set(lost.loc[lost.kind == "driver lost", "run_id"]) == set(orphans)
    assert not tables["metrics"].loc[tables["metrics"].run_id == orphans[0], "complete"].all()
    print(f"driver SIGKILL: {len(before)} whole files kept, {summary['recovered_runs']} "
          f"recovered by the next run; SIGTERM at start-up: clean stop in {stop_s:.1f} s")

