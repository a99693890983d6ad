"""The counting geometry of the accuracy benchmark's sequences, and its analytics config.

Both TUD sequences: people walk left and right across a 640x480 view; per sequence one
line people cross head-on, one line they walk along, and one zone in the middle of the
walkway, with the same placement rules for both.

Example:
    >>> [line.id for line in analytics_config(SCENES["TUD-Campus"]).lines]
    ['head_on', 'along']
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "accuracy.py")

from dataclasses import dataclass

from pipeline.analytics.config import AnalyticsConfig


@dataclass(frozen=True)
class Scene:
    """The counting geometry of one sequence, normalised coordinates.

    Attributes:
        head_on: (x0, y0, x1, y1) of the line people cross head-on.
        along: (x0, y0, x1, y1) of the line people walk along.
        zone: polygon vertices.
    """

    head_on: tuple[float, float, float, float]
    along: tuple[float, float, float, float]
    zone: tuple[tuple[float, float], ...]


# Both TUD sequences: people walk left and right across a 640x480 view, feet between 0.5
# and 1.0 of the height (Campus) or 0.48 and 0.7 (Stadtmitte, a wider, deeper street).
SCENES = {
    "TUD-Campus": Scene(
        head_on=(0.5, 0.6, 0.5, 1.0),
        along=(0.05, 0.82, 0.95, 0.82),
        zone=((0.3, 0.65), (0.7, 0.65), (0.7, 1.0), (0.3, 1.0)),
    ),
    "TUD-Stadtmitte": Scene(
        head_on=(0.5, 0.4, 0.5, 0.8),
        along=(0.05, 0.57, 0.95, 0.57),
        zone=((0.3, 0.45), (0.7, 0.45), (0.7, 0.75), (0.3, 0.75)),
    ),
}


# Noise guards of the analytics, as a site would set them for real footage. The ground
# truth goes through the same analytics with these turned off (TRUTH_GUARDS): labelled
# boxes do not jitter or break, and the guards must not move the ruler. What a crossing and
# a visit *are* (hysteresis_box_fraction, min_visit_s: library defaults) is the same for both.
LINE_GUARDS = {"min_side_s": 0.1}
ZONE_GUARDS = {"exit_grace_s": 2.0}
TRUTH_LINE_GUARDS = {"min_side_s": 0.0}
TRUTH_ZONE_GUARDS = {"exit_grace_s": 0.0, "dwell_to_border_s": 0.0}
"""Labelled people are labelled for their whole stay: their dwell needs no estimate of
unseen ends (``dwell_to_border_s``), which is what a tracker's broken tracks get."""
TRUTH_CONTINUITY = {"max_gap_s": 0.0}
"""Joining broken tracks (``analytics.continuity``) repairs the tracker like the guards do,
so the ground truth goes without it too (labelled people are one track each)."""


def analytics_config(scene: Scene, truth: bool = False) -> AnalyticsConfig:
    """The scene as an AnalyticsConfig: library defaults plus the noise guards above (for
    the ground truth, ``truth=True``: the guards and track joining off)."""
    line_guards = TRUTH_LINE_GUARDS if truth else LINE_GUARDS
    zone_guards = TRUTH_ZONE_GUARDS if truth else ZONE_GUARDS
    return AnalyticsConfig(
        zones=[{"id": "zone", "points": [list(p) for p in scene.zone], **zone_guards}],
        lines=[
            {"id": "head_on", "start": list(scene.head_on[:2]), "end": list(scene.head_on[2:]),
             **line_guards},
            {"id": "along", "start": list(scene.along[:2]), "end": list(scene.along[2:]),
             **line_guards},
        ],
        window_s=3600.0,
        min_distinct_tracks=1,
        **({"continuity": TRUTH_CONTINUITY} if truth else {}),
    )
