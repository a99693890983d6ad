"""Writing what an aggregator's checkpoint holds when nothing is left to replay it: its
controller (and with it every tracker and aggregator of the run) died, or its driver did.
No Ray.

The driver calls :func:`recover_run` at the end of a run whose controller was lost, and
:func:`recover_orphans` when a run starts, for the checkpoints that earlier runs on the
same output left when their driver was killed (a run whose driver still holds its
:class:`~pipeline.sinks.checkpoint.RunLock` is left alone). Each checkpoint's files sealed
before it died are written again under their names (:mod:`pipeline.sinks.pending`), its
buffered events are written, its open windows closed early and written
``complete = false``, the gap recorded (:mod:`pipeline.sinks.incidents`), and the
checkpoint deleted. Every file is named in the checkpoint (saved again as recovery goes)
before it is written, so a recovery cut short (the driver killed again) is done again by
the next run without writing a row twice. What the lost actors received after their last
checkpoint, at most ``run.checkpoint_s`` of media time per camera plus what the trackers
held, is lost.
A camera of the run that no checkpoint holds (its actor was still being placed, or it
waited in an offline batch's queue) gets a gap too, from its start
(:func:`record_unrecovered`), so that the incidents name every camera the failure cost:
the driver knows its cameras, and the next run reads those the dead driver last noted in
its lock file (:meth:`~pipeline.sinks.checkpoint.RunLock.note_cameras`).

Example:
    >>> import tempfile
    >>> recover_run(tempfile.mkdtemp(), "run-1", "controller lost")
    {'checkpoints': 0, 'windows': 0, 'rows': 0, 'cameras': [], 'unrecovered': []}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.sinks.checkpoint import (
    CHECKPOINT_DIR,
    alerts_state_path,
    drop_checkpoint,
    load_checkpoint,
    note_cameras,
    run_alive,
    run_cameras,
    save_checkpoint,
    wait_released,
)
from pipeline.sinks.incidents import FailureBook

log = logging.getLogger(__name__)

UNRECOVERED_NAME = "unrecovered"
"""The name (after the run id) of a run's incidents file for cameras no checkpoint held."""


def recover_checkpoint(path: Path, state: dict[str, Any] | None, root: Path, run_id: str,
                       why: str) -> tuple[int, int, tuple[str, ...]]:
    """Writes one checkpoint's open windows and buffered rows (``state``, loaded from
    ``path``; None when it could not be read), then deletes it; returns (windows written,
    event rows written, the cameras it held)."""
    if state is None:
        return 0, 0, ()
    failures, sinks = state["failures"], state["sinks"]
    failures.write_sealed()  # sealed by the aggregator (or a recovery cut short)
    # A clean close that kept rows it could not write: no gap, no window left open.
    closed = state.get("closed", False)
    cameras = () if closed else state["analytics"].camera_ids  # none when recovered before
    for cid in cameras:
        failures.record(cid, why, state["last_pts"].get(cid), time.time())
    windows = [] if closed else failures.mark(state["analytics"].close())
    failures.seal(failures.open_gaps(), root, run_id)
    sinks.on_seal(lambda: save_checkpoint(path, state))  # before each of their writes
    before = sinks.rows_written()
    sinks.write([], windows, {})
    sinks.write_plugin_tables(state["analytics"].pop_plugin_tables())  # the same windows'
    sinks.close()
    save_checkpoint(path, state)
    failures.write_sealed()
    drop_checkpoint(path)
    return len(windows), sinks.rows_written() - before, cameras


def recover_run(root: str | Path, run_id: str, why: str,
                cameras: Iterable[str] = ()) -> dict[str, Any]:
    """Writes every checkpoint of run ``run_id`` under ``root`` (see the module
    docstring); returns how many checkpoints, windows and rows (events and metrics), which
    cameras they held (sorted), and those of ``cameras`` (the run's unfinished ones, as its
    driver knew them) that none held, ``unrecovered``: these get a gap from their start
    first, and the run's note of its cameras is narrowed to them, so that a recovery cut
    short and done again records each camera once."""
    folder = Path(root) / CHECKPOINT_DIR / run_id
    paths = sorted(folder.glob("aggregator-*.pkl"))
    for path in paths:  # the lost run's aggregators save their last state as they exit
        released(path)
    states: list[tuple[Path, dict[str, Any] | None]] = [
        (path, load_checkpoint(path)) for path in paths]
    noted = set(cameras)
    held = {cid for _, state in states if state is not None
            for cid in state["analytics"].camera_ids}
    unrecovered = sorted(noted - held)
    if noted:
        try:
            note_cameras(root, run_id, unrecovered)
            record_unrecovered(root, run_id, unrecovered, why)
        except OSError as exc:  # the checkpoints are still written
            log.error("run %s: the gaps of cameras %s could not be recorded: %s", run_id,
                      unrecovered, exc)
    out: dict[str, Any] = {"checkpoints": 0, "windows": 0, "rows": 0, "cameras": [],
                           "unrecovered": unrecovered}
    for path, state in states:
        try:
            windows, rows, held_by_it = recover_checkpoint(path, state, Path(root), run_id, why)
        except Exception as exc:  # noqa: BLE001 - the other checkpoints are still written
            log.error("checkpoint %s could not be written: %s", path, exc)
            continue
        out["checkpoints"] += 1
        out["windows"] += windows
        out["rows"] += rows
        out["cameras"] = sorted({*out["cameras"], *held_by_it})
    alerts = alerts_state_path(root, run_id)  # nothing of it goes to the output
    released(alerts)
    drop_checkpoint(alerts)
    if out["checkpoints"]:
        log.warning("run %s: wrote %d window(s) from %d checkpoint(s) (%s)", run_id,
                    out["windows"], out["checkpoints"], why)
    return out


def released(path: Path) -> None:
    """Waits until no process saves checkpoint ``path`` (:func:`wait_released`); one still
    held after the wait is read as it is, and an error logged."""
    try:
        wait_released(path)
    except (TimeoutError, OSError) as exc:
        log.error("checkpoint %s: %s; read as it is", path, exc)


def record_unrecovered(root: str | Path, run_id: str, camera_ids: list[str],
                       why: str) -> list[Path]:
    """Records a gap from the start (``from_pts_s`` null) for each of ``camera_ids``, the
    run's cameras that no checkpoint held, in one incidents file of a fixed name (written
    again, it replaces itself); returns it (none when ``camera_ids`` is empty).

    Raises:
        OSError: the file could not be written.
    """
    if not camera_ids:
        return []
    book = FailureBook()
    now = time.time()
    for cid in camera_ids:
        book.record(cid, why, None, now)
    book.seal(book.open_gaps(), Path(root), run_id, name=UNRECOVERED_NAME)
    return book.write_sealed()


def recover_orphans(root: str | Path, own_run_id: str) -> dict[str, dict[str, Any]]:
    """Writes the checkpoints of every other run under ``root`` whose driver is gone (see
    the module docstring), and a gap from the start for each camera its driver last noted
    unfinished that no checkpoint held; returns, per such run id, what :func:`recover_run`
    wrote and the cameras ``unrecovered``."""
    folder = Path(root) / CHECKPOINT_DIR
    out: dict[str, dict[str, Any]] = {}
    runs = sorted({p.name for p in folder.glob("*") if p.is_dir()}
                  | {p.stem for p in folder.glob("*.lock")}) if folder.is_dir() else []
    for run_id in runs:
        if run_id == own_run_id or run_alive(root, run_id):
            continue
        noted = run_cameras(root, run_id)  # read once the driver is gone: its last note
        if noted is None and not (folder / run_id).is_dir():
            continue  # a lock file with no note and no checkpoint: nothing to recover
        out[run_id] = recover_run(root, run_id, "driver lost", noted or ())
        (folder / f"{run_id}.lock").unlink(missing_ok=True)
        log.warning("the output held checkpoints of run %s (its driver died, or its close "
                    "could not write every row): wrote %d window(s) (complete = false) and "
                    "%d row(s)", run_id,
                    out[run_id]["windows"], out[run_id]["rows"])
    return out
