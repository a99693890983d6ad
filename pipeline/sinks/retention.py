"""Retention: deleting date partitions older than their retention period. No Ray.

Age is measured against the run's own clock (the aggregator's host clock, passed in as
``now_s``), never a camera's: a camera whose clock runs ahead cannot delete the output.
A partition this run wrote to less than its retention period ago (by the run's clock) is
kept, so an offline run of footage older than the period keeps its own output for that
long; symlinks are never followed or deleted, and a partition that cannot be
deleted is logged and skipped: retention never fails a write.

Example:
    >>> import tempfile
    >>> apply_retention(Path(tempfile.mkdtemp()), [(("events",), 30.0)], now_s=1.8e9)
    []
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86400.0
DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def day_end_s(date: str) -> float:
    """The end of a UTC date (``YYYY-MM-DD``), seconds since the epoch."""
    return float((np.datetime64(date, "D") + 1).astype("datetime64[s]").astype(np.int64))


def apply_retention(root: Path, plans: Sequence[tuple[Sequence[str], float | None]],
                    now_s: float, written: Mapping[str, float] | None = None) -> list[Path]:
    """Deletes the ``date=`` partitions under ``root``/<name> whose whole day ended more
    than their period ago.

    Args:
        root: the sink's output directory.
        plans: (dataset names, retention days or None for forever) pairs.
        now_s: the present, seconds since the epoch (the run's clock).
        written: per partition this run wrote to (``<name>/date=...``), the run's clock
            at its last write; kept while that is less than the period ago.

    Returns:
        The partition directories deleted.
    """
    removed: list[Path] = []
    for names, days in plans:
        if days is None:
            continue
        cutoff = now_s - days * SECONDS_PER_DAY
        for name in names:
            base = root / name
            if base.is_symlink() or not base.is_dir():
                continue
            for d in sorted(base.iterdir()):
                m = DATE_DIR.match(d.name)
                if not m or d.is_symlink() or not d.is_dir():
                    continue
                if day_end_s(m.group(1)) > cutoff or (written or {}).get(
                        f"{name}/{d.name}", float("-inf")) > cutoff:
                    continue
                try:
                    shutil.rmtree(d)
                except OSError as exc:
                    log.error("retention could not delete %s: %s", d, exc)
                    continue
                removed.append(d)
    if removed:
        log.info("retention removed %d partition(s)", len(removed))
    return removed
