"""Runs independent benchmark tasks on every core.

Workers are forked, so a task is any callable (closures over fitted models, trackers'
factories): only its result crosses back, pickled. Where fork is not available, or one
core is, the tasks run one after another in this process; results come in task order
either way.

Example:
    >>> run_tasks([lambda: 1 + 1, lambda: "two"])
    [2, 'two']
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of other benchmarks
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_TASKS: list[Callable[[], Any]] = []
"""The tasks of the running :func:`run_tasks`, inherited by its forked workers."""


def _run(index: int) -> Any:
    return _TASKS[index]()


def run_tasks(tasks: Sequence[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """The results of ``tasks``, in order, computed by up to ``workers`` processes
    (default: one per core)."""
    global _TASKS
    workers = min(len(tasks), workers or os.cpu_count() or 1)
    if (workers <= 1 or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):  # a daemon cannot fork workers
        return [task() for task in tasks]
    previous, _TASKS = _TASKS, list(tasks)  # a task may run tasks of its own
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run, range(len(tasks))))
    finally:
        _TASKS = previous
