"""Object classes of a camera's zones and lines: one *column* per (element, class).

A zone or line counts the classes named in its ``classes`` (default ``person``). Each
(element, class) pair is one column of the analytics' state, rows and events, so every
figure (occupancy, visits, crossings, dwell, queue waits) is per class, and a track,
whose class never changes (the tracker matches detections only to tracks of the same
class, :class:`pipeline.tracking.tracker.ByteTracker`), counts in at most one column of
each element. Class names become the model's class ids through its label map; without
one (``labels=None``, a person-only stream) every track counts as ``person``.

Example:
    >>> cols = ClassColumns.build([("person",), ("red", "blue")], {0: "red", 1: "blue",
    ...                           2: "person"}, ["zone 'a'", "zone 'b'"])
    >>> cols.element.tolist(), cols.names
    ([0, 1, 1], ('person', 'red', 'blue'))
    >>> cols.mask(np.array([1, 2], np.int16)).tolist()
    [[False, False, True], [True, False, False]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.analytics.config import AnalyticsConfig
    from pipeline.analytics.lines import Crossings

DEFAULT_CLASS = "person"
"""The class a zone, line or alert rule counts unless told otherwise, and the class of
every track when the model's labels are not known."""

_BLIND_ID = 0
"""Stand-in class id of every track when no label map is given (they are all ``person``)."""


@dataclass(frozen=True)
class ClassColumns:
    """The (element, class) columns of one kind of element (zones, or lines).

    Attributes:
        element: (C,) int64 index of each column's zone or line, in config order.
        names: (C,) class name of each column.
        class_id: (C,) int64 the model's id of each column's class.
        blind: True when the model's labels are unknown: every track is ``person``.
        identity: True when there is one column per element and every track counts in it
            (blind, and every element counts ``person``): masks can be skipped.
        one_class: the class id when there is one column per element and all count that
            one class (then column i is element i's), else None.
    """

    element: npt.NDArray[np.int64]
    names: tuple[str, ...]
    class_id: npt.NDArray[np.int64]
    blind: bool
    identity: bool
    one_class: int | None = None

    @classmethod
    def build(
        cls,
        classes: Sequence[Sequence[str]],
        labels: Mapping[int, str] | None,
        what: Sequence[str],
    ) -> ClassColumns:
        """Flattens each element's classes into columns.

        Args:
            classes: per element, the class names it counts (in config order).
            labels: the model's class names by id, or None (every track is ``person``).
            what: per element, how errors name it (``zone 'lobby'``).

        Raises:
            ConfigError: an element names a class the model does not have.
        """
        ids_by_name = {DEFAULT_CLASS: _BLIND_ID} if labels is None else {
            name: int(i) for i, name in labels.items()}
        element, names, ids = [], [], []
        for e, (wanted, label) in enumerate(zip(classes, what, strict=True)):
            for name in wanted:
                if name not in ids_by_name:
                    known = sorted(ids_by_name)
                    raise ConfigError(
                        f"{label} counts class {name!r}, which the model does not have "
                        f"(it has {len(known)} classes such as {known[:8]})",
                        "classes",
                    )
                element.append(e)
                names.append(name)
                ids.append(ids_by_name[name])
        identity = labels is None and len(names) == len(classes)
        one = ids[0] if ids and len(ids) == len(classes) and len(set(ids)) == 1 else None
        return cls(np.array(element, np.int64), tuple(names), np.array(ids, np.int64),
                   labels is None, identity, one)

    def __len__(self) -> int:
        return len(self.names)

    def columns_of(self, per_element: npt.NDArray[np.bool_],
                   class_ids: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        """Returns (n, C) bool from (n, E) per-element flags (a track inside a zone): set
        in the columns of its element and its class only.

        Cheap when nothing needs splitting: one column per element, all of one class,
        and every track of that class (the person default).
        """
        if self.identity:
            return per_element
        if self.one_class is not None:
            of_class = np.asarray(class_ids) == self.one_class
            return per_element if of_class.all() else per_element & of_class[:, None]
        return per_element[:, self.element] & self.mask(class_ids)

    def mask(self, class_ids: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        """Returns (n, C) bool: whether each track (by its (n,) class id) counts in each column."""
        if self.blind:
            return np.broadcast_to(self.class_id[None, :] == _BLIND_ID,
                                   (len(class_ids), len(self.names)))
        return np.asarray(class_ids, np.int64)[:, None] == self.class_id[None, :]

    def column(self, element: npt.NDArray[np.int64],
               class_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Returns (k,) int64 the column of each (element, class id) pair, -1 where the
        element does not count that class."""
        if self.blind:
            class_ids = np.full(len(class_ids), _BLIND_ID, np.int64)
        if self.one_class is not None:  # column i is element i's
            return np.where(np.asarray(class_ids) == self.one_class, element, -1).astype(np.int64)
        hit = (self.element[None, :] == np.asarray(element)[:, None]) & (
            self.class_id[None, :] == np.asarray(class_ids, np.int64)[:, None])
        return np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)

    def split_crossings(self, c: Crossings, slots: npt.NDArray[np.int64],
                        class_ids: npt.NDArray[np.int16]) -> Crossings:
        """Maps each crossing's line to its (line, class) column by the class of its
        track (``class_ids`` per row of ``slots``); drops crossings of classes the line
        does not count."""
        if self.identity or not len(c.slot):
            return c
        row = np.empty(int(slots.max()) + 1, np.int64)
        row[slots] = np.arange(len(slots))
        col = self.column(c.line, class_ids[row[c.slot]])
        keep = col >= 0
        return type(c)(c.slot[keep], col[keep], c.to_right[keep])

    def of_element(self, element: int) -> npt.NDArray[np.int64]:
        """Returns the columns of element index ``element``, in its classes' order."""
        return np.flatnonzero(self.element == element)


def check_model_keeps(kept: Sequence[str], config: AnalyticsConfig, where: str) -> None:
    """Raises ValueError when a zone or line counts a class the detector filters out.

    Args:
        kept: ``model.classes``, the class names the detector keeps (empty: every class).
        config: a camera's analytics config (its zones and lines).
        where: how the error names the camera.
    """
    if not kept:
        return
    for kind, items in (("zone", config.zones), ("line", config.lines)):
        for item in items:
            missing = [c for c in item.classes if c not in kept]
            if missing:
                raise ValueError(
                    f"{where}: {kind} {item.id!r} counts {missing}, but model.classes keeps "
                    f"only {list(kept)}; add them to model.classes (empty keeps every class)"
                )
