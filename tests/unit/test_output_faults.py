"""Output that cannot be written (a folder made read-only or taken by a file under a
running sink, a disk that stays full): analysis goes on, writes pause and are retried,
rows are kept (bounded), and what was never written is reported at the close: the run
summary says ``output.complete: false`` (found by an exploratory test of the output side:
such runs exited 0 with a normal summary and most Parquet output missing). No Ray."""

from __future__ import annotations

import shutil
from pathlib import Path


from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.control.views import export_failures, output_state
from pipeline.sinks.base import Sinks
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from tests.unit.test_sinks import T0, closed_windows, event, retry_writes_everything


def _block(folder: Path) -> None:
    """Puts a plain file where the sink's ``folder`` must be: every write there fails
    with a real OSError (not a full disk)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("not a folder")


def test_a_folder_that_cannot_be_written_pauses_output_until_it_can(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, max_buffer_rows=10))
    _block(tmp_path / "events")
    for i in range(30):
        sink.write([event(track=i, at=T0 + i)], [], {})  # raises nothing: paused
    sink.write([], closed_windows(start_at=T0), {})
    health = sink.disk.health()
    assert health["paused"] and health["reason"].startswith("cannot write: "), health
    assert sink.buffered_rows() == 30 + 4
    (tmp_path / "events").unlink()  # the operator fixes it
    retry_writes_everything(sink, tmp_path, events=31, metrics=4)


def test_rows_never_written_by_the_close_make_the_output_incomplete(tmp_path: Path) -> None:
    sinks = Sinks([ParquetSinkConfig(root=tmp_path, max_buffer_rows=10)], "run-1")
    _block(tmp_path / "events")
    sinks.write([event(track=i, at=T0 + i) for i in range(12)], closed_windows(start_at=T0), {})
    sinks.close()  # raises nothing: what it could not write is counted and said
    health = sinks.health()
    assert health["buffered_rows"] == 12 + 4
    assert "not written at the close" in health["reason"], health
    state = output_state([AggregatorSnapshot((), 12, 1, output=health)])
    assert state["complete"] is False and state["unwritten_rows"] == 16
    assert "cannot write" in state["reason"] or "not written" in state["reason"]
    clean = Sinks([ParquetSinkConfig(root=tmp_path / "ok")], "run-2")
    clean.write([event(track=1, at=T0)], closed_windows(start_at=T0), {})
    clean.close()
    assert output_state([AggregatorSnapshot((), 1, 1, output=clean.health())]) == {
        "complete": True, "dropped_rows": 0, "unwritten_rows": 0, "kept_rows": 0, "reason": "",
        "track_export_failed": {}}


def test_a_stopped_track_export_makes_the_output_incomplete() -> None:
    """The trackers' stats at the shutdown name the cameras whose export stopped; the
    summary's output says so (``panoray run`` then exits 1)."""
    flushed = [{"export_failed": {"door": "[Errno 28] No space left on device"}},
               TimeoutError(), {"export_failed": {}}]
    failed = export_failures(flushed)
    assert failed == {"door": "[Errno 28] No space left on device"}
    state = output_state([], failed)
    assert state["complete"] is False and state["track_export_failed"] == failed
    assert output_state([], export_failures(flushed[1:]))["complete"] is True
