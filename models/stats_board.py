"""Detector counters summed over every replica of the deployment.

Each Detector replica counts its own requests and batches (:class:`DetectorStats`); a
caller of ``stats`` reaches one replica, chosen by Serve. So that the answer covers the
whole deployment, every replica posts its counters to one small named actor, the
:class:`StatsBoard`, every ``ServingConfig.stats_interval_s`` once it has served a frame,
and the answering replica merges what the board holds with its own fresh counters.

The board is created by the first replica that posts (``get_if_exists``), lives in the
replicas' namespace and belongs to that replica: it goes away with the deployment, and if
its owner is replaced the next post creates a new one (the other replicas' counters come
back with their next post). It holds one entry per replica and forgets a replica it has
not heard from for ``ServingConfig.stats_forget_after_s``, so its state is bounded and
totals cover the replicas running now (they can fall when a replica stops).

The merging is pure (no Ray) and tested in tests/unit/test_stats_board.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ray

MAX_REPLICAS = 1024
"""Most replicas a board keeps (ServingConfig allows at most 1024)."""


@dataclass
class DetectorStats:
    """Counters a detector replica keeps about itself (bounded: one entry per batch size).

    Attributes:
        requests: frames received (including rejected ones; each tile of an image).
        errors: requests rejected as malformed, one per image (its tiles count once).
        batches: model runs.
        items: frames that went through the model (sum of batch sizes).
        queue_s: summed wait of every frame before its batch ran (seconds).
        inference_s: summed model run time of every batch (seconds).
        batch_sizes: model runs by number of frames.
    """

    requests: int = 0
    errors: int = 0
    batches: int = 0
    items: int = 0
    queue_s: float = 0.0
    inference_s: float = 0.0
    batch_sizes: Counter[int] = field(default_factory=Counter)

    def record_batch(self, size: int, ok: int, queue_s: float, inference_s: float) -> None:
        """Adds one batch of ``size`` requests, ``ok`` of which ran, to the counters (the
        rejected ones count as errors by :meth:`record_rejected`, per image)."""
        self.requests += size
        if ok:
            self.batches += 1
            self.items += ok
            self.batch_sizes[ok] += 1
            self.inference_s += inference_s
        self.queue_s += queue_s

    def record_rejected(self, images: int) -> None:
        """Adds ``images`` requests rejected as malformed (an image's tiles: one)."""
        self.errors += images

    def raw(self) -> dict[str, Any]:
        """The counters as plain values (what a replica posts to the board)."""
        return {"requests": self.requests, "errors": self.errors, "batches": self.batches,
                "items": self.items, "queue_s": self.queue_s, "inference_s": self.inference_s,
                "batch_sizes": dict(self.batch_sizes)}

    @classmethod
    def total(cls, raws: Iterable[Mapping[str, Any]]) -> DetectorStats:
        """The sum of several replicas' :meth:`raw` counters."""
        out = cls()
        for r in raws:
            out.requests += int(r["requests"])
            out.errors += int(r["errors"])
            out.batches += int(r["batches"])
            out.items += int(r["items"])
            out.queue_s += float(r["queue_s"])
            out.inference_s += float(r["inference_s"])
            out.batch_sizes.update({int(k): int(v) for k, v in r["batch_sizes"].items()})
        return out

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view: totals, means in ms, and the batch-size histogram."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "batches": self.batches,
            "mean_batch_size": self.items / self.batches if self.batches else 0.0,
            "mean_queue_ms": 1000 * self.queue_s / self.requests if self.requests else 0.0,
            "mean_inference_ms": 1000 * self.inference_s / self.batches if self.batches else 0.0,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
        }


def merge_replicas(
    own_id: str, own: Mapping[str, Any], board: Mapping[str, tuple[Mapping[str, Any], float]],
) -> dict[str, Any]:
    """Deployment-wide counters from one replica's fresh counters and the board's.

    Args:
        own_id: the answering replica.
        own: its :meth:`DetectorStats.raw` counters, now (they replace its board entry).
        board: replica id to (raw counters, seconds since that replica posted them).

    Returns:
        :meth:`DetectorStats.snapshot` of the sum over replicas, plus ``replicas``: per
        replica its requests, batches, mean batch size and ``age_s`` (0 for ``own_id``).
    """
    entries = {rid: (raw, age) for rid, (raw, age) in board.items() if rid != own_id}
    entries[own_id] = (own, 0.0)
    per = {}
    for rid, (raw, age) in sorted(entries.items()):
        snap = DetectorStats.total([raw]).snapshot()
        per[rid] = {"requests": snap["requests"], "batches": snap["batches"],
                    "mean_batch_size": round(snap["mean_batch_size"], 3),
                    "age_s": round(age, 2)}
    return {**DetectorStats.total(raw for raw, _ in entries.values()).snapshot(),
            "replicas": per}


@ray.remote(num_cpus=0)
class StatsBoard:
    """Latest counters of each replica of one deployment; see the module docstring."""

    def __init__(self, forget_after_s: float) -> None:
        self._forget_after_s = forget_after_s
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}

    def post(self, replica_id: str, raw: dict[str, Any]) -> None:
        """Stores a replica's counters (replacing its previous post)."""
        now = time.monotonic()
        self._entries[replica_id] = (raw, now)
        self._forget(now)

    def collect(self) -> dict[str, tuple[dict[str, Any], float]]:
        """Replica id to (counters, seconds since posted), for replicas heard from lately."""
        now = time.monotonic()
        self._forget(now)
        return {rid: (raw, now - at) for rid, (raw, at) in self._entries.items()}

    def _forget(self, now: float) -> None:
        stale = [rid for rid, (_, at) in self._entries.items()
                 if now - at > self._forget_after_s]
        for rid in stale:
            del self._entries[rid]
        while len(self._entries) > MAX_REPLICAS:  # oldest first
            del self._entries[min(self._entries, key=lambda r: self._entries[r][1])]
