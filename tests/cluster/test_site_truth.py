"""Site-wide flows against hand-counted truth: OpenCV's campus clip replayed as two
cameras, a zone group over both and a site occupancy from one door line on each, through
the real detector, trackers, aggregators and alerts actor, compared with what a person
counted on the frames.

How the truth was counted (by eye, on PNGs of ``pipeline/demo/vtest.mp4`` written with
OpenCV with a 0.025 grid drawn on; every 5th frame of frames 0-150 around each line, then
single frames around each crossing and at each camera's last frame). Positions are a
person's feet, normalised (x right, y down).

``door-east`` (frames 0-130) has the line x = 0.70, y 0.42 to 0.85, named so that walking
left (into the site) is ``in``:
  - frame ~12: the man in black coming from the right edge, walking left: in;
  - frames ~47 and ~56: the red-jacket man and the woman beside him, walking left: in, in;
  - frame ~121 (y 0.52): the man in black who came from the left path, walking right: out;
  - not crossings: the man in jeans who walks to x 0.75 at frames 80-90 and turns back
    up (never left of x 0.752), and the red-jacket pair walking back right at frames
    103-106 at y 0.36-0.37, above the segment's top (0.42).
  So in 3, out 1. Its zone ``lamp`` (x 0.46-0.62, y 0.38-0.56) at frame 130 holds 2: the
  man standing at (0.51, 0.45) since frame ~25 and the one standing at (0.555, 0.45)
  half behind the lamp post's sign.

``door-west`` (frames 0-94) has the line x = 0.45, y 0.30 to 0.70, named so that walking
right is ``in``:
  - frame ~13 (y 0.50): the man starting at x 0.35 walks right (then stands at x 0.51): in;
  - frame ~63 (y 0.41): the man in black coming from the lamp post, walking left: out.
  So in 1, out 1. Its zone ``west-walk`` (x 0.20-0.47, y 0.36-0.62) at frame 94 holds 1:
  that man in black, at (0.42, 0.46), inside since frame ~62.

Truth at the end of the replay: the group ``plaza`` (``lamp`` + ``west-walk``) holds
2 + 1 = 3; the site occupancy entered 3 + 1 = 4, left 1 + 1 = 2, so 2 inside. No order in
which the two cameras' crossings reach the alerts actor makes the count touch zero before
an ``out`` (each camera's ``out`` comes after its own ``in`` s), so the clamp at zero never
applies and the truth does not depend on how fast each replay ran.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import threading

import pandas as pd
import pytest

from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig

pytestmark = pytest.mark.cluster

CLIP = pathlib.Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"
EAST_FRAMES, WEST_FRAMES = 131, 95  # each camera's replay ends at the counted frame

TRUE_GROUP = 2 + 1  # lamp at frame 130 + west-walk at frame 94
TRUE_ENTERED, TRUE_LEFT = 3 + 1, 1 + 1
GROUP_TOLERANCE = 1
"""The man half behind the lamp post's sign (his legs and an arm show) is a detection a
real detector drops (this one does: panoray counted 1 in ``lamp``, 1 in ``west-walk``).
Everyone else in the zones stands or walks in the open. Dropping either camera's zone
still fails: 1 (or 2 with the hidden man found) against 3."""
CROSSING_TOLERANCE = 1
"""At most one of the six crossings (entered and left errors summed) may be missed or
extra. The one a tracker can miss: at ``door-west``'s frame ~63 the man in black walks
out from behind the standing man about 38 px before the line, so his track may be born
too close to the line to have been seen on its far side first (this run misses it:
entered 4, left 1). The other five are by people seen walking alone for a second or more
before the line. Dropping either camera's line, or swapping a line's directions, is
off by two or more."""


def _rect(x0: float, x1: float, y0: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _site() -> SiteConfig:
    # the day's reset half a day away, so that it never falls inside the run
    reset = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).strftime("%H:%M")
    return SiteConfig.model_validate({
        "cameras": [
            {"id": "door-east", "url": str(CLIP), "source": {"max_frames": EAST_FRAMES},
             "zones": [{"id": "lamp", "points": _rect(0.46, 0.62, 0.38, 0.56)}],
             "lines": [{"id": "door", "start": [0.70, 0.42], "end": [0.70, 0.85],
                        "left_to_right": "in", "right_to_left": "out"}]},  # leftwards: in
            {"id": "door-west", "url": str(CLIP), "source": {"max_frames": WEST_FRAMES},
             "zones": [{"id": "west-walk", "points": _rect(0.20, 0.47, 0.36, 0.62)}],
             "lines": [{"id": "door", "start": [0.45, 0.30], "end": [0.45, 0.70],
                        "left_to_right": "out", "right_to_left": "in"}]},  # rightwards: in
        ],
        "analytics": {"window_s": 5, "min_distinct_tracks": 1},
        "groups": [{"name": "plaza", "zones": [{"camera_id": "door-east", "zone_id": "lamp"},
                                               {"camera_id": "door-west",
                                                "zone_id": "west-walk"}]}],
        "flows": {"record_interval_s": 1, "occupancy": {
            "lines": [{"camera_id": "door-east", "line_id": "door", "in": "in"},
                      {"camera_id": "door-west", "line_id": "door", "in": "in"}],
            "reset_at": reset, "timezone": "UTC"}},
    })


@pytest.fixture(scope="module")
def site_rows(serve_app, tmp_path_factory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("site-truth")
    runner = PipelineRunner(_site(), RunOptions(output_dir=tmp / "out", offline=True),
                            detector=serve_app["handle"])
    try:
        runner.start()
        why = runner.wait(threading.Event())
    finally:
        summary = runner.shutdown()
    assert why == "ended", summary
    for cid, frames in (("door-east", EAST_FRAMES), ("door-west", WEST_FRAMES)):
        assert summary["cameras"][cid]["frames_delivered"] == frames, summary["cameras"][cid]
    return pd.read_parquet(tmp / "out" / "site").sort_values("at", kind="stable")


def test_the_zone_group_at_the_replays_end_matches_the_hand_count(site_rows):
    group = site_rows[site_rows.kind == "group"]
    assert set(group.name) == {"plaza"} and group.upper_bound.all()
    last = group.iloc[-1]
    assert abs(last.occupancy - TRUE_GROUP) <= GROUP_TOLERANCE, group.to_string()


def test_the_site_occupancy_from_two_door_lines_matches_the_hand_count(site_rows):
    site = site_rows[site_rows.kind == "site_occupancy"]
    last = site.iloc[-1]
    error = abs(last.entered - TRUE_ENTERED) + abs(last.left - TRUE_LEFT)
    assert error <= CROSSING_TOLERANCE, site.to_string()
    assert last.occupancy == last.entered - last.left  # never clamped on this clip
    assert (site.entered.diff().dropna() >= 0).all()  # counts only grow within the day
