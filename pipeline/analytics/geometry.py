"""Vectorised geometry of anchors against zones (polygons) and lines (segments).

All functions work on whole frames at once: ``n`` anchors against ``Z`` polygons or ``L``
segments give ``(n, Z)`` or ``(n, L)`` arrays, with no Python loop over tracks. Points are
pixels of the original frame, x to the right and y downwards; the anchor of a box is its
bottom centre.

Example:
    >>> import numpy as np
    >>> polys = PolygonSet.from_polygons([np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)])
    >>> polys.contains(np.array([5.0, 15.0]), np.array([5.0, 5.0])).tolist()
    [[True], [False]]
    >>> polys.border_distance(np.array([5.0, 15.0]), np.array([2.0, 5.0])).tolist()
    [[2.0], [5.0]]
    >>> segs = SegmentSet.from_segments(np.array([[0, 0, 10, 0]], float))
    >>> d, t = segs.measure(np.array([5.0]), np.array([2.0]))
    >>> float(d[0, 0]), float(t[0, 0])   # 2 px on the right-hand side, half way along
    (2.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.analytics.config import AnalyticsConfig, Units
from pipeline.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def resolve_points(
    points: Sequence[Sequence[float]], units: Units, width: int, height: int, what: str = "points"
) -> FloatArray:
    """Returns config points as (m, 2) float64 pixels.

    Args:
        points: (m, 2) x, y in ``units``.
        units: ``pixel`` or ``normalized`` (fractions of ``width`` and ``height``).
        width: frame width in pixels.
        height: frame height in pixels.
        what: name used in errors (for example ``zone 'till' on camera 'cam1'``).

    Raises:
        ConfigError: the frame size is not positive, or a pixel point lies outside it.
    """
    if width <= 0 or height <= 0:
        raise ConfigError(f"{what}: frame size must be positive, but got {width}x{height}")
    out = np.asarray(points, np.float64).reshape(-1, 2)
    if units == "normalized":
        return out * np.array([width, height], np.float64)
    outside = (out[:, 0] > width) | (out[:, 1] > height) | (out < 0).any(axis=1)
    if outside.any():
        x, y = out[np.argmax(outside)]
        raise ConfigError(
            f"{what}: point ({x:g}, {y:g}) lies outside the {width}x{height} frame "
            "(pixel coordinates must be within it; use units: normalized to scale with "
            "the frame)"
        )
    return out


@dataclass(frozen=True)
class PolygonSet:
    """``Z`` polygons as padded edge arrays, for even-odd point-in-polygon tests and
    distances to their borders.

    Attributes:
        x0, y0, x1, y1: (Z, E) float64 edge end points in pixels; polygons with fewer than
            E edges are padded with horizontal zero edges that never count.
        inv_slope: (Z, E) float64 dx/dy of each edge, 0 for horizontal edges.
        dx, dy: (Z, E) float64 edge vectors ``(x1 - x0, y1 - y0)``, pixels.
        length2: (Z, E) float64 squared edge lengths (at least 1e-12), pixels squared.
        pad: (Z, E) float64 0 on a polygon's edges, +inf on padding (added to squared
            distances so that padding is never the nearest edge).
    """

    x0: FloatArray
    y0: FloatArray
    x1: FloatArray
    y1: FloatArray
    inv_slope: FloatArray
    dx: FloatArray
    dy: FloatArray
    length2: FloatArray
    pad: FloatArray

    @classmethod
    def from_polygons(cls, polygons: Sequence[npt.ArrayLike]) -> PolygonSet:
        """Builds the set from a list of (m_i, 2) vertex arrays in pixels."""
        arrays = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons]
        z = len(arrays)
        e = max((len(a) for a in arrays), default=1)
        x0, y0, x1, y1 = (np.zeros((z, e)) for _ in range(4))
        pad = np.full((z, e), np.inf)
        for i, a in enumerate(arrays):
            b = np.roll(a, -1, axis=0)
            m = len(a)
            x0[i, :m], y0[i, :m], x1[i, :m], y1[i, :m] = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
            pad[i, :m] = 0.0
        dx, dy = x1 - x0, y1 - y0
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(dy != 0, dx / np.where(dy != 0, dy, 1.0), 0.0)
        length2 = np.maximum(dx * dx + dy * dy, 1e-12)
        return cls(*(_readonly(a) for a in (x0, y0, x1, y1, inv, dx, dy, length2, pad)))

    def __len__(self) -> int:
        return self.x0.shape[0]

    def contains(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        """Returns (n, Z) bool: whether each point lies inside each polygon.

        Args:
            x: (n,) float64 anchor x in pixels.
            y: (n,) float64 anchor y in pixels.

        Points exactly on an edge follow the half-open even-odd rule (deterministic, but
        either side may win).
        """
        px = x[:, None, None]
        py = y[:, None, None]
        straddles = (self.y0 > py) != (self.y1 > py)
        xint = self.x0 + (py - self.y0) * self.inv_slope
        hits = straddles & (px < xint)
        return np.logical_xor.reduce(hits, axis=2)

    def border_distance(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Returns (n, Z) float64: distance from each point to each polygon's border
        (its nearest edge, inside or outside alike), pixels.

        Args:
            x: (n,) float64 anchor x in pixels.
            y: (n,) float64 anchor y in pixels.
        """
        px = x[:, None, None] - self.x0  # (n, Z, E)
        py = y[:, None, None] - self.y0
        t = (px * self.dx + py * self.dy) / self.length2
        np.clip(t, 0.0, 1.0, out=t)
        ex = px - t * self.dx
        ey = py - t * self.dy
        return np.sqrt((ex * ex + ey * ey + self.pad).min(axis=2))


@dataclass(frozen=True)
class SegmentSet:
    """``L`` directed segments ``a -> b`` for signed distances and projections.

    Attributes:
        ax, ay: (L,) float64 start points in pixels.
        ex, ey: (L,) float64 direction vectors ``b - a`` in pixels.
        inv_len: (L,) float64 ``1 / |b - a|``.
        inv_len2: (L,) float64 ``1 / |b - a|**2``.
    """

    ax: FloatArray
    ay: FloatArray
    ex: FloatArray
    ey: FloatArray
    inv_len: FloatArray
    inv_len2: FloatArray

    @classmethod
    def from_segments(cls, segments: npt.ArrayLike) -> SegmentSet:
        """Builds the set from (L, 4) float rows ``x0, y0, x1, y1`` in pixels."""
        s = np.asarray(segments, np.float64).reshape(-1, 4)
        ex, ey = s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]
        length2 = ex * ex + ey * ey
        if (length2 <= 0).any():
            raise ConfigError(f"segment {int(np.argmin(length2))} has zero length")
        return cls(
            *(
                _readonly(a)
                for a in (s[:, 0], s[:, 1], ex, ey, 1.0 / np.sqrt(length2), 1.0 / length2)
            )
        )

    def __len__(self) -> int:
        return self.ax.shape[0]

    def measure(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Signed distance and position along each segment of each point.

        Args:
            x: (n,) float64 anchor x in pixels.
            y: (n,) float64 anchor y in pixels.

        Returns:
            ``(d, t)``, both (n, L) float64: ``d`` is the signed perpendicular distance in
            pixels to the segment's infinite line, positive on the right-hand side as seen
            in the image looking from ``a`` to ``b``; ``t`` is the position of the point's
            projection along the segment, 0 at ``a`` and 1 at ``b``.
        """
        dx = x[:, None] - self.ax
        dy = y[:, None] - self.ay
        d = (self.ex * dy - self.ey * dx) * self.inv_len
        t = (self.ex * dx + self.ey * dy) * self.inv_len2
        return d, t


@dataclass(frozen=True)
class CameraGeometry:
    """A camera's zones and lines resolved to pixels of its frame size.

    Attributes:
        width, height: frame size in pixels.
        zone_ids: (Z,) zone ids in config order.
        zone_vertices: per zone, (m, 2) float64 vertices in pixels.
        polygons: the zones for vectorised tests.
        line_ids: (L,) line ids in config order.
        segments: the lines for vectorised tests.
    """

    width: int
    height: int
    zone_ids: tuple[str, ...]
    zone_vertices: tuple[FloatArray, ...]
    polygons: PolygonSet
    line_ids: tuple[str, ...]
    segments: SegmentSet


def resolve_camera_geometry(
    config: AnalyticsConfig, width: int, height: int, camera_id: str = ""
) -> CameraGeometry:
    """Resolves a camera's zones and lines to pixels of a ``width`` x ``height`` frame.

    Raises:
        ConfigError: a pixel coordinate lies outside the frame, naming the zone or line,
            the camera and the key path.
    """
    cam = f" on camera {camera_id!r}" if camera_id else ""
    verts = []
    for i, z in enumerate(config.zones):
        try:
            verts.append(
                _readonly(resolve_points(z.points, z.units, width, height, f"zone {z.id!r}{cam}"))
            )
        except ConfigError as e:
            raise ConfigError(str(e), f"zones[{i}].points") from None
    segs = []
    for i, line in enumerate(config.lines):
        try:
            p = resolve_points(
                [line.start, line.end], line.units, width, height, f"line {line.id!r}{cam}"
            )
        except ConfigError as e:
            raise ConfigError(str(e), f"lines[{i}]") from None
        segs.append(p.reshape(4))
    return CameraGeometry(
        width=width,
        height=height,
        zone_ids=tuple(z.id for z in config.zones),
        zone_vertices=tuple(verts),
        polygons=PolygonSet.from_polygons(verts),
        line_ids=tuple(line.id for line in config.lines),
        segments=SegmentSet.from_segments(np.asarray(segs, np.float64).reshape(-1, 4)),
    )
