"""Resuming a run whose controller or driver died, from its aggregators' checkpoints: an
offline run's output is then the output of a run that never failed. No Ray.

An offline run whose every camera reads a file or image folder can be read again: the
same frames give the same tracks (detection and tracking are deterministic), and an
aggregator keeps the first copy of a frame (``AggregatorActor._first_time``). So a run
cut short goes on where its checkpoints stopped:

- a camera that a checkpoint holds goes back to that aggregator, which restores its
  state, and its tracker goes on from the lane kept in that checkpoint (sent with the
  camera's frames every ``run.checkpoint_s`` of media: its tracks, the smoother's held
  frames, its id counter); the file is read again after the lane's last frame (from its
  start, with a new lane, when the checkpoint has none yet), the aggregator drops the
  frames it had, and the track export goes on after its last row;
- a camera whose windows were written (removed from its aggregator: an offline batch's
  ended file) is done and does not run again (``done`` in the checkpoint);
- any other camera (still queued, or not yet placed) starts as in a new run.

A live camera cannot be read again. Its aggregator restores its state all the same, its
tracker goes on from the lane in the checkpoint with its tracks dropped (their visits end
or are joined by the tracks that follow; ids skip a margin, for those given after the
lane was saved), and the new stream's frames come after the last frame the checkpoint
holds, on the camera's timeline after the outage: one gap, and what came after the
checkpoint is lost.

The run keeps its id, so its files (named in the checkpoints) are written under their
names, never twice. The driver resumes its own run when its controller dies, and
``panoray run`` resumes a run on the same output whose driver died if it had the same
input and settings: the driver notes a :func:`fingerprint` of the config in the run's
lock file (:class:`~pipeline.sinks.checkpoint.RunLock`), and a run resumes only a dead run
of the same fingerprint; one with live cameras only within ``run.resume_within_s`` of its
last checkpoint. Anything else (another config, a live run dead for longer, an unreadable
checkpoint) is written out instead (:mod:`pipeline.sinks.recovery`).

Example:
    >>> import tempfile
    >>> plan_resume(tempfile.mkdtemp(), "run-1", "driver lost")  # died before any checkpoint
    ResumePlan(run_id='run-1', why='driver lost', hosts={}, done=frozenset())
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.sinks.checkpoint import (
    CHECKPOINT_DIR,
    load_checkpoint,
    run_alive,
    run_note,
)
from pipeline.sinks.recovery import released

log = logging.getLogger(__name__)


def fingerprint(config_json: str, offline: bool, export_dir: str | None) -> str:
    """What a run must share with a dead run to resume it: its config (as JSON, output
    included), offline mode and track export folder, hashed (credentials in camera URLs
    are never written)."""
    text = f"{config_json}\n{offline}\n{export_dir}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ResumePlan:
    """How a run resumes a dead one (see the module docstring).

    Attributes:
        run_id: the dead run's id, which the resuming run takes.
        why: what was lost (``driver lost``, ``controller lost``), recorded as each
            restored camera's incident.
        hosts: per camera a checkpoint holds, the index of that aggregator.
        done: cameras whose windows were written: they do not run again.
        lanes: per camera held, its tracker lane as that checkpoint kept it (pickled), if
            it has one.
        last: per camera held that has had frames, (frame index, media time) of the last
            frame that checkpoint holds: a live camera's new frames come after it.
    """

    run_id: str
    why: str
    hosts: dict[str, int] = field(default_factory=dict)
    done: frozenset[str] = frozenset()
    lanes: dict[str, bytes] = field(default_factory=dict, repr=False)
    last: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)


def plan_resume(root: str | Path, run_id: str, why: str) -> ResumePlan | None:
    """The plan to resume run ``run_id`` from its checkpoints under ``root`` (none: it
    died before any camera reached an aggregator, and every camera starts afresh); None
    when a checkpoint cannot be read (they are written out instead, as far as they can
    be)."""
    folder = Path(root) / CHECKPOINT_DIR / run_id
    paths = sorted(folder.glob("aggregator-*.pkl"))
    hosts: dict[str, int] = {}
    done: set[str] = set()
    lanes: dict[str, bytes] = {}
    last: dict[str, tuple[int, float]] = {}
    for path in paths:
        released(path)  # the lost run's aggregators save their last state as they exit
        state = load_checkpoint(path)
        if state is None:
            log.error("run %s: checkpoint %s unreadable; the run is not resumed", run_id,
                      path.name)
            return None
        index = int(path.stem.rsplit("-", 1)[1])
        hosts.update((cid, index) for cid in state["analytics"].camera_ids)
        done.update(state.get("done", ()))
        lanes.update(state.get("lanes", {}))
        last.update((cid, (index, state["last_pts"][cid]))
                    for cid, index in state.get("last_index", {}).items())
    return ResumePlan(run_id, why, hosts, frozenset(done - set(hosts)),
                      {cid: lane for cid, lane in lanes.items() if cid in hosts},
                      {cid: at for cid, at in last.items() if cid in hosts})


def find_resumable(root: str | Path, own_run_id: str, print_: str,
                   why: str = "driver lost", max_age_s: float | None = None
                   ) -> ResumePlan | None:
    """The plan to resume the newest run under ``root`` whose driver died and whose
    fingerprint is ``print_`` (:func:`fingerprint`), if its last checkpoint is at most
    ``max_age_s`` old (None: however old); None when there is none."""
    folder = Path(root) / CHECKPOINT_DIR
    if not folder.is_dir():
        return None
    for lock in sorted(folder.glob("*.lock"), key=lambda p: -_mtime(p)):
        run_id = lock.stem
        if run_id == own_run_id or run_alive(root, run_id):
            continue
        note = run_note(root, run_id)
        if note is None or note[1] != print_:
            continue
        age = time.time() - max((_mtime(p) for p in (folder / run_id).glob("*.pkl")),
                                default=_mtime(lock))
        if max_age_s is not None and age > max_age_s:
            log.warning("run %s died %.0f s ago, more than run.resume_within_s (%.0f s): "
                        "not resumed (its checkpoints are written out)", run_id, age,
                        max_age_s)
            continue
        plan = plan_resume(root, run_id, why)
        if plan is not None:
            return plan
    return None


def _mtime(path: Path) -> float:
    """When ``path`` was last written (0 if it was deleted meanwhile)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
