"""Dense rows ("slots") for the per-track state of one camera's analytics.

Per-track state lives in numpy arrays indexed by a slot; a track gets a slot on its first
frame and gives it back when it is removed (see :class:`~pipeline.analytics.camera.
CameraAnalytics`).

Example:
    >>> slots = TrackSlots(capacity=2)
    >>> slots.lookup([7, 9]).tolist(), slots.lookup([9]).tolist(), len(slots)
    ([0, 1], [1], 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

INITIAL_SLOTS = 64
"""Track slots allocated up front; the arrays double when more tracks are active."""

TrackIds = Sequence[int] | npt.NDArray[np.int64]
"""Track ids as a sequence or an (n,) int64 array (the tracker's ``removed_ids``)."""



class TrackSlots:
    """Maps active track ids to dense array rows ("slots").

    Attributes:
        track_id: (capacity,) int64 track id per slot, -1 where free.
        last_seen: (capacity,) float64 media time a slot's track was last seen, NaN if free.
        added: how many ids the last :meth:`lookup` gave a slot (0: all had one).
    """

    def __init__(self, capacity: int = INITIAL_SLOTS) -> None:
        self._slot_of: dict[int, int] = {}
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self.track_id = np.full(capacity, -1, np.int64)
        self.last_seen = np.full(capacity, np.nan)
        self.added = 0

    @property
    def capacity(self) -> int:
        return len(self.track_id)

    def __len__(self) -> int:
        return len(self._slot_of)

    def lookup(self, ids: list[int]) -> npt.NDArray[np.int64]:
        """Returns the (n,) slots of ``ids``, giving new ids a free slot (growing if needed)."""
        get = self._slot_of.get
        slots = [get(t, -1) for t in ids]
        self.added = 0
        if -1 in slots:
            for i, t in enumerate(ids):
                if slots[i] == -1:
                    if not self._free:
                        self._grow()
                    s = self._free.pop()
                    self._slot_of[t] = s
                    self.track_id[s] = t
                    slots[i] = s
                    self.added += 1
        return np.array(slots, np.int64)

    def find(self, ids: TrackIds) -> npt.NDArray[np.int64]:
        """Returns the slots of those ``ids`` that hold state (unknown ids are skipped)."""
        get = self._slot_of.get
        found = [s for s in (get(int(t)) for t in ids) if s is not None]
        return np.array(sorted(found), np.int64)

    def retire(self, slots: npt.NDArray[np.int64]) -> None:
        """Unmaps the track ids of ``slots`` but keeps the slots (and their ``track_id``
        and ``last_seen``) until :meth:`release`: the tracks are gone, their state is
        kept a little longer."""
        for s in slots.tolist():
            self._slot_of.pop(int(self.track_id[s]), None)

    def release(self, slots: npt.NDArray[np.int64]) -> None:
        """Frees ``slots`` (retired or not)."""
        for s in slots.tolist():
            self._slot_of.pop(int(self.track_id[s]), None)
            self.track_id[s] = -1
            self.last_seen[s] = np.nan
            self._free.append(s)

    def _grow(self) -> None:
        old = self.capacity
        self.track_id = np.concatenate([self.track_id, np.full(old, -1, np.int64)])
        self.last_seen = np.concatenate([self.last_seen, np.full(old, np.nan)])
        self._free.extend(range(2 * old - 1, old - 1, -1))
