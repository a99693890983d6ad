"""The outbox across a SIGKILL: a real process is killed between an alert's open and close.

The next start adopts the open alert from the outbox, closes it with the same alert id,
and delivers whatever the killed process had not: every event reaches the (de-duplicating)
receiver exactly once.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.alert_receiver import Receiver
from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "kill-test-secret-0123456789"


class Proc:
    """``python -m tests.alerts_process`` with its output lines collected."""

    def __init__(self, outbox: pathlib.Path, url: str, phase: str) -> None:
        env = {**os.environ, "PANORAY_TEST_WEBHOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.alerts_process", str(outbox), url, phase],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        self.kill()
        pytest.fail(f"no {prefix!r} line; output:\n" + "\n".join(self.lines))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)


@pytest.mark.parametrize("moment", ["after_delivery", "receiver_down", "before_ack"])
def test_sigkill_between_open_and_close_loses_nothing_and_repeats_nothing(tmp_path, moment):
    receiver = Receiver(free_port(), SECRET.encode())
    outbox = tmp_path / "outbox.sqlite"
    if moment != "receiver_down":
        receiver.start()
    if moment == "before_ack":
        receiver.hold.clear()  # it records the open, then holds its answer: we kill then
    first = Proc(outbox, receiver.url, "open")
    try:
        alert_id = first.wait_line("OPENED").split()[1]
        if moment == "after_delivery":
            first.wait_line("DELIVERED")
        elif moment == "before_ack":
            assert receiver.recorded.wait(30)
        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        assert not any(line.startswith("CLOSED") for line in first.lines)

        if moment == "receiver_down":
            assert receiver.raw == []
            receiver.start()
        receiver.hold.set()
        second = Proc(outbox, receiver.url, "close")
        assert second.wait_line("CLOSED") == f"CLOSED {alert_id}"  # the same alert
        second.wait_line("DONE")
        second.proc.wait(30)
        assert second.proc.returncode == 0, second.lines
    finally:
        receiver.hold.set()
        first.kill()
        receiver.stop()

    assert [(m["phase"], m["alert_id"]) for m in receiver.unique.values()] == [
        ("open", alert_id), ("close", alert_id)]
    opens = [m for m in receiver.raw if m["phase"] == "open"]
    if moment == "before_ack":
        # the receiver had it, the killed process had not recorded the ack: it is sent once
        # more, with the same event id, and the consumer drops the repeat
        assert len(opens) == 2 and opens[0]["event_id"] == opens[1]["event_id"]
    else:
        assert len(opens) == 1  # an acknowledged event is never sent again
    assert len([m for m in receiver.raw if m["phase"] == "close"]) == 1
