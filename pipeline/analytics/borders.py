"""The ends of a zone visit nobody saw: dwell up to the zone's border.

A tracker that finds a person only for part of their stay in a zone (hidden behind
others, too small for the detector, a track that breaks and is not joined) starts their
track deep inside the zone or loses it there. Dwell from the first to the last frame seen
inside then misses the walk from the border in and out again: on long sequences with a
static camera it came out 15-40 % short. :class:`BorderDwell` adds, at each end of a
visit that was not seen (its first track started inside the zone, or its last track was
last seen inside), the time to walk from there to the zone's border at the visit's mean
speed, bounded:

- by ``dwell_to_border_s`` per end;
- below by ``border_min_speed`` (body heights per second: someone who barely moved while
  seen is not taken to stand unseen for long);
- by how long the camera watched without seeing them: not before its first frame, not
  after the visit ended or the tracker removed the track (a recording that ends with
  people inside adds nothing for them: the tracks end with it).

Position and time only, as :mod:`pipeline.analytics.continuity`: nobody is recognised.

Example:
    >>> import numpy as np
    >>> from pipeline.analytics.geometry import PolygonSet
    >>> from pipeline.analytics.zones import EndedVisits
    >>> square = PolygonSet.from_polygons([[(0, 0), (100, 0), (100, 100), (0, 100)]])
    >>> bd = BorderDwell(np.array([1.0]), np.array([0.2]), square, None)
    >>> v = EndedVisits(np.array([0]), np.array([0]), np.array([50.0]), np.array([40.0]),
    ...                 np.array([10.0]), np.array([12.0]), np.array([True]),
    ...                 np.array([False]))
    >>> bd(v, np.array([50.0]), np.array([60.0]), np.array([50.0]), np.array([12.0]), 0.0,
    ...    20.0).tolist()
    [1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pipeline.analytics.classes import ClassColumns
from pipeline.analytics.config import ZoneConfig
from pipeline.analytics.geometry import PolygonSet
from pipeline.analytics.zones import EndedVisits

FloatArray = npt.NDArray[np.float64]
MIN_SEEN_S = 1e-9
"""Floor on a visit's seen time (seconds) when its mean speed is measured."""


class BorderDwell:
    """Seconds each ending visit adds to its dwell for its unseen ends.

    Args:
        cap_s: (C,) float64 ``dwell_to_border_s`` per zone column, media seconds.
        min_speed: (C,) float64 ``border_min_speed`` per zone column, body heights per s.
        polygons: the camera's zones, pixels.
        element: (C,) int64 the zone (polygon) of each column; None: column = zone.
    """

    def __init__(self, cap_s: FloatArray, min_speed: FloatArray, polygons: PolygonSet,
                 element: npt.NDArray[np.int64] | None) -> None:
        self.cap = np.asarray(cap_s, np.float64)
        self.min_speed = np.asarray(min_speed, np.float64)
        self.polygons = polygons
        self.element = element
        self.enabled = bool((self.cap > 0).any())

    @classmethod
    def for_zones(cls, zones: Sequence[ZoneConfig], polygons: PolygonSet,
                  columns: ClassColumns) -> BorderDwell:
        """From the zone config of each column (``columns``: the camera's zone columns)."""
        return cls(np.array([z.dwell_to_border_s for z in zones], np.float64),
                   np.array([z.border_min_speed for z in zones], np.float64), polygons,
                   None if columns.identity else columns.element)

    def __call__(self, v: EndedVisits, last_x: FloatArray, last_y: FloatArray,
                 height: FloatArray, last_seen: FloatArray, first_pts: float,
                 now: FloatArray | float) -> FloatArray:
        """(x,) float64 seconds to add to the dwell of the visits ``v``.

        Args:
            v: the counted visits that end (their first anchors, times and which ends
                were not seen).
            last_x, last_y, height: (x,) float64 anchor and box height of each visit's
                track when last seen, pixels, and ``last_seen`` its media time, seconds
                (the visit's mean speed is from its first anchor to there).
            first_pts: media time of the camera's first frame, seconds.
            now: media time of the frame that ends the visits, seconds, or (x,) float64
                earlier where the tracker removed a visit's track before (the person was
                gone by then: :meth:`~pipeline.analytics.continuity.TrackEnds.watched_until`).
        """
        col = v.zone
        zone = col if self.element is None else self.element[col]
        rows = np.arange(len(col))
        seen = np.maximum(last_seen - v.start, MIN_SEEN_S)
        speed = np.maximum(np.hypot(last_x - v.first_x, last_y - v.first_y) / seen,
                           self.min_speed[col] * height)
        cap = self.cap[col]
        out = np.zeros(len(col))
        if v.born.any():
            d = self.polygons.border_distance(v.first_x, v.first_y)[rows, zone]
            out += np.where(v.born, np.minimum(np.minimum(d / speed, cap),
                                               v.start - first_pts), 0.0)
        if v.vanished.any():
            d = self.polygons.border_distance(last_x, last_y)[rows, zone]
            out += np.where(v.vanished, np.minimum(np.minimum(d / speed, cap), now - v.last),
                            0.0)
        return np.maximum(np.nan_to_num(out, nan=0.0, posinf=0.0), 0.0)
