"""A full disk under a running 3-camera pipeline, injected at the sinks' file layer (no
tmpfs or loop mount needed): every write fails with ENOSPC until space "returns"."""

from __future__ import annotations

import time

import ray

from pipeline.sinks.recovery import recover_orphans
from tests.faults.harness import (
    RunResult,
    events_by_camera,
    graph_of,
    lost,
    read_output,
    run_pipeline,
)


def _fill(actor) -> None:
    def fill(self) -> None:
        import errno

        def full(*_args) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        for sink in self._sinks._sinks:
            sink.write_file = full

    ray.get(actor.__ray_call__.remote(fill), timeout=30)


def _free(actor) -> None:
    def free(self) -> None:
        from pipeline.sinks.files import write_atomically

        for sink in self._sinks._sinks:
            sink.write_file = write_atomically

    ray.get(actor.__ray_call__.remote(free), timeout=30)


def test_disk_full_pauses_writes_and_loses_nothing(serve_app: dict, baseline: RunResult,
                                                   tmp_path) -> None:
    seen: dict = {}

    def fault(runner) -> None:
        aggregators = graph_of(runner)["aggregators"]
        for agg in aggregators:
            _fill(agg)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not seen.get("reason"):
            health = ray.get([a.sink_health.remote() for a in aggregators])
            reasons = [r.reason for r in runner.status() if "output paused" in r.reason]
            if any(h["paused"] for h in health) and reasons:
                seen.update(reason=reasons[0], health=health)
            time.sleep(0.2)
        time.sleep(3.0)  # analysis goes on while writes wait
        for agg in aggregators:
            _free(agg)

    result = run_pipeline(tmp_path / "out", serve_app["handle"], fault)
    assert "disk full" in seen["reason"], seen
    base, got = (events_by_camera(r.tables["events"]) for r in (baseline, result))
    assert {cam: lost(base[cam], got[cam]) for cam in base} == dict.fromkeys(base, 0)
    assert len(result.tables["metrics"]) == len(baseline.tables["metrics"])
    assert result.summary["output"] == {"complete": True, "dropped_rows": 0,
                                        "unwritten_rows": 0, "kept_rows": 0, "reason": "",
                                        "track_export_failed": {}}
    print(f"disk full: status said {seen['reason'][:60]!r}; 0 events lost; "
          f"run {result.seconds:.1f} s")


def test_a_disk_full_to_the_end_says_so_and_the_next_run_writes_the_rows(
        serve_app: dict, baseline: RunResult, tmp_path) -> None:
    """The disk never frees up: the run ends all the same (no aggregator close fails),
    and its summary says the output is incomplete, how many rows were never written, and
    why (a run that exited 0 with a normal summary before). The rows are kept in the
    aggregators' checkpoints, and the next run on the output writes them, each once,
    without recording a gap (the run had none)."""
    def fault(runner) -> None:
        for agg in graph_of(runner)["aggregators"]:
            _fill(agg)

    out = tmp_path / "out"
    result = run_pipeline(out, serve_app["handle"], fault)
    output = result.summary["output"]
    assert output["complete"] is False and output["unwritten_rows"] > 0, output
    assert output["kept_rows"] == output["unwritten_rows"] and not output["dropped_rows"]
    assert "disk full" in output["reason"] and "No space left" in output["reason"], output
    assert "error" not in result.summary  # the run itself ended cleanly

    recovered = recover_orphans(out, "the-next-run")  # as the next run's start does
    run = recovered[result.summary["run_id"]]
    assert run["rows"] > 0 and run["cameras"] == [] and run["windows"] == 0, run
    tables = read_output(out)
    base, got = (events_by_camera(t["events"]) for t in (baseline.tables, tables))
    assert {cam: lost(base[cam], got[cam]) for cam in base} == dict.fromkeys(base, 0)
    assert len(tables["events"]) == len(baseline.tables["events"])  # each row once
    assert len(tables["metrics"]) == len(baseline.tables["metrics"])
    assert tables["incidents"].empty, tables["incidents"]  # the run had no gap
    assert not list((out / ".checkpoints").glob("*/*.pkl"))
    assert recover_orphans(out, "a-third-run") == {}  # nothing is written twice
