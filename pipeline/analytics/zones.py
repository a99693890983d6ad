"""Zone visits: occupancy, enter and exit with dwell, vectorised over tracks and zones.

State is one row per track *slot* (see :class:`pipeline.analytics.camera.TrackSlots`) and
one column per zone, in flat numpy arrays. A visit of a slot in a zone:

- starts on the first frame the anchor is inside (``start``);
- counts once ``last inside - start >= min_visit_s`` (a ``zone_enter`` stamped ``start``);
- ends once the anchor has not been inside for more than ``exit_grace_s`` (a
  ``zone_exit`` stamped with the last frame inside, dwell ``last inside - start``), or
  when the track's state is dropped. A visit that never counted ends silently;
- with continuity (``deep_grace_s`` longer than ``exit_grace_s``): a visit whose track was
  last seen deep inside (the caller says which anchors are, when asked: see
  :data:`DeepOf`) stays open that long, and
  :meth:`ZoneVisits.hand_over` passes it on to a new track that continues the lost one
  (:mod:`pipeline.analytics.continuity`): one visit, its ``tracklets`` counting the tracks
  it joined.

Occupancy counts the counted, open visits whose track was inside the zone when last seen:
a person hidden inside still counts until the grace period ends, a person seen outside
does not count during it (so the grace period never inflates occupancy).

Example:
    >>> import numpy as np
    >>> zv = ZoneVisits(min_visit_s=np.array([0.0]), exit_grace_s=np.array([1.0]))
    >>> ch = zv.update(np.array([0]), np.array([[True]]), pts_s=0.0)
    >>> ch.enter_pts.tolist(), zv.occupancy().tolist()
    ([0.0], [1])
    >>> ch = zv.update(np.array([0]), np.array([[False]]), pts_s=2.0)
    >>> ch.exit_pts.tolist(), ch.exit_dwell.tolist()
    ([0.0], [0.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

TIME_EPSILON_S = 1e-6
"""Slack in comparisons of media-time differences with min_visit_s and exit_grace_s, so
that a visit of exactly the minimum counts despite rounding (0.24 - 0.04 < 0.2 in floats)."""


DeepOf = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
"""Given (k,) slots, returns (k, Z) bool: whether each slot's track was deep inside each
zone (far enough from its border) when last seen. Asked only for tracks last seen inside
a zone whose visit may end or go on, so that the distances are not measured every frame."""

ToBorder = Callable[["EndedVisits"], npt.NDArray[np.float64]]
"""Given visits that end, returns (x,) float64 media seconds to add to their dwell for
the parts of the stay not seen: see :class:`EndedVisits`."""


@dataclass(frozen=True)
class EndedVisits:
    """Counted visits that end now, for :data:`ToBorder`.

    Attributes:
        slot, zone: (x,) int64 slot (of the visit's last track) and zone index.
        first_x, first_y: (x,) float64 anchor of the visit's first frame inside, pixels.
        start, last: (x,) float64 media time of its first and last frame inside.
        born: (x,) bool, its first track started inside the zone (not seen entering).
        vanished: (x,) bool, its last track was last seen inside (not seen leaving).
    """

    slot: npt.NDArray[np.int64]
    zone: npt.NDArray[np.int64]
    first_x: npt.NDArray[np.float64]
    first_y: npt.NDArray[np.float64]
    start: npt.NDArray[np.float64]
    last: npt.NDArray[np.float64]
    born: npt.NDArray[np.bool_]
    vanished: npt.NDArray[np.bool_]


def _empty_i() -> npt.NDArray[np.int64]:
    return np.zeros(0, np.int64)


def _empty_f() -> npt.NDArray[np.float64]:
    return np.zeros(0, np.float64)


@dataclass(frozen=True)
class ZoneChanges:
    """Visits that counted or ended in one update.

    Attributes:
        enter_slot, enter_zone: (e,) int64 slot and zone index of visits that started counting.
        enter_pts: (e,) float64 media time of each visit's first frame inside.
        exit_slot, exit_zone: (x,) int64 slot and zone index of counted visits that ended.
        exit_pts: (x,) float64 media time of the last frame inside.
        exit_dwell: (x,) float64 seconds from the first to the last frame inside (plus
            the unseen ends, with ``to_border``).
        exit_start: (x,) float64 media time of the ended visits' first frame inside.
        enter_tracklets, exit_tracklets: (e,), (x,) int64 tracks the visit joined so far.
    """

    enter_slot: npt.NDArray[np.int64] = field(default_factory=_empty_i)
    enter_zone: npt.NDArray[np.int64] = field(default_factory=_empty_i)
    enter_pts: npt.NDArray[np.float64] = field(default_factory=_empty_f)
    exit_slot: npt.NDArray[np.int64] = field(default_factory=_empty_i)
    exit_zone: npt.NDArray[np.int64] = field(default_factory=_empty_i)
    exit_pts: npt.NDArray[np.float64] = field(default_factory=_empty_f)
    exit_dwell: npt.NDArray[np.float64] = field(default_factory=_empty_f)
    exit_start: npt.NDArray[np.float64] = field(default_factory=_empty_f)
    enter_tracklets: npt.NDArray[np.int64] = field(default_factory=_empty_i)
    exit_tracklets: npt.NDArray[np.int64] = field(default_factory=_empty_i)

    def __bool__(self) -> bool:
        return bool(len(self.enter_slot) or len(self.exit_slot))


NO_CHANGES = ZoneChanges()


class ZoneVisits:
    """Visit state of every (track slot, zone) pair.

    Args:
        min_visit_s: (Z,) float64 shortest visit that counts per zone, media seconds.
        exit_grace_s: (Z,) float64 time outside after which a visit ends per zone, seconds.
        capacity: initial number of track slots (grows with :meth:`grow`).
        deep_grace_s: (Z,) float64 the same for a visit whose track was last seen deep
            inside (at least ``exit_grace_s``); None: ``exit_grace_s``.
        to_border: what the dwell of each ending counted visit adds for its unseen
            ends (:data:`ToBorder`); None: nothing (dwell is first to last frame inside).
    """

    def __init__(
        self,
        min_visit_s: npt.NDArray[np.float64],
        exit_grace_s: npt.NDArray[np.float64],
        capacity: int = 64,
        deep_grace_s: npt.NDArray[np.float64] | None = None,
        to_border: ToBorder | None = None,
    ) -> None:
        self.min_visit = np.asarray(min_visit_s, np.float64)
        self.grace = np.asarray(exit_grace_s, np.float64)
        deep = self.grace if deep_grace_s is None else np.asarray(deep_grace_s, np.float64)
        self._min_visit_cmp = self.min_visit - TIME_EPSILON_S
        self._grace_cmp = self.grace + TIME_EPSILON_S
        self._deep_grace_cmp = np.maximum(deep, self.grace) + TIME_EPSILON_S
        z = len(self.min_visit)
        self.start = np.full((capacity, z), np.nan)
        self.last_in = np.full((capacity, z), np.nan)
        self.confirmed = np.zeros((capacity, z), np.bool_)
        self.seen_out = np.zeros((capacity, z), np.bool_)
        self.deep = np.zeros((capacity, z), np.bool_)
        self.unsettled = np.zeros(capacity, np.bool_)
        self.tracklets = np.zeros((capacity, z), np.int64)
        self.to_border = to_border
        self.first_x = np.full((capacity, z), np.nan)
        self.first_y = np.full((capacity, z), np.nan)
        self.born = np.zeros((capacity, z), np.bool_)

    @property
    def num_zones(self) -> int:
        return len(self.min_visit)

    def grow(self, capacity: int) -> None:
        """Extends the slot arrays to ``capacity`` rows (new rows hold no visit)."""
        extra = capacity - self.start.shape[0]
        if extra <= 0:
            return
        z = self.num_zones
        self.start = np.concatenate([self.start, np.full((extra, z), np.nan)])
        self.last_in = np.concatenate([self.last_in, np.full((extra, z), np.nan)])
        self.confirmed = np.concatenate([self.confirmed, np.zeros((extra, z), np.bool_)])
        self.seen_out = np.concatenate([self.seen_out, np.zeros((extra, z), np.bool_)])
        self.deep = np.concatenate([self.deep, np.zeros((extra, z), np.bool_)])
        self.unsettled = np.concatenate([self.unsettled, np.zeros(extra, np.bool_)])
        self.tracklets = np.concatenate([self.tracklets, np.zeros((extra, z), np.int64)])
        self.first_x = np.concatenate([self.first_x, np.full((extra, z), np.nan)])
        self.first_y = np.concatenate([self.first_y, np.full((extra, z), np.nan)])
        self.born = np.concatenate([self.born, np.zeros((extra, z), np.bool_)])

    def update(
        self, slots: npt.NDArray[np.int64], inside: npt.NDArray[np.bool_], pts_s: float,
        deep_of: DeepOf | None = None, anchor_x: npt.NDArray[np.float64] | None = None,
        anchor_y: npt.NDArray[np.float64] | None = None,
        new: npt.NDArray[np.bool_] | None = None,
    ) -> ZoneChanges:
        """Advances every visit to media time ``pts_s``.

        Args:
            slots: (n,) int64 distinct slots of the tracks seen in this frame.
            inside: (n, Z) bool, whether each seen track's anchor is inside each zone.
            pts_s: the frame's media time in seconds (non-decreasing across calls).
            deep_of: which tracks were deep inside when last seen (a visit left there
                ends only after ``deep_grace_s``), asked when it matters; None: every
                track inside is.
            anchor_x, anchor_y: (n,) float64 the tracks' anchors, pixels, and ``new``:
                (n,) bool, this is the track's first frame (with ``to_border``: where
                and how each visit started).

        Returns:
            The visits that started counting or ended. Slots not seen in this frame are
            treated as not inside (their visits end once the grace period has passed).
        """
        if self.num_zones == 0:
            return NO_CHANGES
        ended = NO_CHANGES
        since = pts_s - self.last_in
        expired = since > self._grace_cmp  # the deep grace is at least as long
        if expired.any():
            self._settle(np.flatnonzero(expired.any(axis=1)), deep_of)
            expired &= since > np.where(self.deep, self._deep_grace_cmp, self._grace_cmp)
            if len(slots):
                expired[slots] &= ~inside
            if expired.any():
                ended = self._end(expired)
        if not len(slots):
            return ended
        self.seen_out[slots] = ~inside
        self.deep[slots] = inside  # deep or not: settled when it matters
        if deep_of is not None:
            self.unsettled[slots] = True
        st = self.start[slots]
        fresh = inside & np.isnan(st)
        if fresh.any():
            st = np.where(fresh, pts_s, st)
            self.start[slots] = st
            self.tracklets[slots] = np.where(fresh, 1, self.tracklets[slots])
            if self.to_border is not None and anchor_x is not None:
                r, z = np.nonzero(fresh)
                rs = slots[r]
                self.first_x[rs, z] = anchor_x[r]
                self.first_y[rs, z] = anchor_y[r]
                self.born[rs, z] = False if new is None else new[r]
        last = np.where(inside, pts_s, self.last_in[slots])
        self.last_in[slots] = last
        conf = self.confirmed[slots]
        counts_now = inside & ~conf & ((last - st) >= self._min_visit_cmp)
        if not counts_now.any():
            return ended
        self.confirmed[slots] = conf | counts_now
        r, z = np.nonzero(counts_now)
        return ZoneChanges(
            enter_slot=slots[r].astype(np.int64),
            enter_zone=z.astype(np.int64),
            enter_pts=st[r, z],
            exit_slot=ended.exit_slot,
            exit_zone=ended.exit_zone,
            exit_pts=ended.exit_pts,
            exit_dwell=ended.exit_dwell,
            exit_start=ended.exit_start,
            enter_tracklets=self.tracklets[slots[r], z],
            exit_tracklets=ended.exit_tracklets,
        )

    def end_slots(self, slots: npt.NDArray[np.int64], keep_deep: bool = False,
                  deep_of: DeepOf | None = None) -> ZoneChanges:
        """Ends every visit of ``slots`` now (their tracks' state is being dropped), or
        with ``keep_deep`` those whose track was not last seen deep inside (``deep_of``,
        as for :meth:`update`)."""
        if self.num_zones == 0 or not len(slots):
            return NO_CHANGES
        mask = np.zeros(self.start.shape, np.bool_)
        mask[slots] = ~np.isnan(self.start[slots])
        if keep_deep:
            self._settle(slots, deep_of)
            mask[slots] &= ~self.deep[slots]
        return self._end(mask) if mask.any() else NO_CHANGES

    def hand_over(self, pred: npt.NDArray[np.int64], succ: npt.NDArray[np.int64],
                  inside: npt.NDArray[np.bool_], deep_of: DeepOf | None = None) -> None:
        """Passes visits on from lost tracks to the new tracks that continue them.

        A visit goes on where the lost track was last seen deep inside the zone and the
        new one is inside it now: the new track's visit keeps its start and whether it
        counted, and joins one more tracklet; the lost track's ends without an event.
        Call before :meth:`update` of the new tracks' first frame.

        Args:
            pred: (k,) int64 slots of the lost tracks.
            succ: (k,) int64 slots of the new tracks, in their first frame (no visits).
            inside: (k, Z) bool, whether each new track's anchor is inside each zone.
            deep_of: as for :meth:`update`.
        """
        if self.num_zones == 0 or not len(pred):
            return
        self._settle(pred, deep_of)
        go_on = ~np.isnan(self.start[pred]) & self.deep[pred] & inside
        if not go_on.any():
            return
        for name in ("start", "last_in", "confirmed", "tracklets", "first_x", "first_y",
                     "born"):
            a = getattr(self, name)
            a[succ] = np.where(go_on, a[pred], a[succ])
        self.tracklets[succ] += go_on
        mask = np.zeros(self.start.shape, np.bool_)
        mask[pred] = go_on
        self._clear(mask)

    def _settle(self, slots: npt.NDArray[np.int64], deep_of: DeepOf | None) -> None:
        """Narrows the ``deep`` flags of ``slots`` (inside, when last seen) to those deep
        inside, where not done yet."""
        if deep_of is None:
            return
        slots = slots[self.unsettled[slots]]
        if not len(slots):
            return
        self.unsettled[slots] = False
        slots = slots[self.deep[slots].any(axis=1)]
        if len(slots):
            self.deep[slots] &= deep_of(slots)

    def _clear(self, mask: npt.NDArray[np.bool_]) -> None:
        self.start[mask] = np.nan
        self.last_in[mask] = np.nan
        self.confirmed[mask] = False
        self.seen_out[mask] = False
        self.deep[mask] = False
        self.tracklets[mask] = 0
        self.first_x[mask] = np.nan
        self.first_y[mask] = np.nan
        self.born[mask] = False

    def _end(self, mask: npt.NDArray[np.bool_]) -> ZoneChanges:
        counted = mask & self.confirmed
        s, z = np.nonzero(counted)
        start = self.start[s, z]
        last = self.last_in[s, z]
        tracklets = self.tracklets[s, z]
        dwell = last - start
        if self.to_border is not None and len(s):
            dwell = dwell + self.to_border(EndedVisits(
                s.astype(np.int64), z.astype(np.int64), self.first_x[s, z],
                self.first_y[s, z], start, last, self.born[s, z], ~self.seen_out[s, z]))
        self._clear(mask)
        return ZoneChanges(
            exit_slot=s.astype(np.int64),
            exit_zone=z.astype(np.int64),
            exit_pts=last,
            exit_dwell=dwell,
            exit_start=start,
            exit_tracklets=tracklets,
        )

    def occupancy(self) -> npt.NDArray[np.int64]:
        """Returns (Z,) int64: tracks in a counted, not yet ended visit that were inside
        when last seen, per zone (a visit left deep inside by a track the tracker removed
        counts until it ends: it may go on with a new track)."""
        return (self.confirmed & ~self.seen_out).sum(axis=0, dtype=np.int64)

    def counted_slots(self, zone: int) -> npt.NDArray[np.int64]:
        """Returns the slots with a counted, open visit in zone index ``zone``."""
        return np.flatnonzero(self.confirmed[:, zone])

    def oldest_counted_start(self, zone: int) -> float | None:
        """Returns the earliest start (media s) of a counted open visit in ``zone``, or None."""
        col = self.confirmed[:, zone]
        return float(self.start[col, zone].min()) if col.any() else None
