"""How the detector deployment counts and logs refused requests, without Ray: an image's
tiles count once, and a refusal is one WARNING line, not an ERROR with a traceback."""

from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np

from models.deployment import RefusalAsWarning, rejected_images
from models.requests import DetectRequest
from models.stats_board import DetectorStats
from pipeline.errors import InputError, ModelError
from pipeline.types import FrameMeta

META = FrameMeta("http", 0, 0.0, 1_700_000_000.5, 1024, 512)
FRAME = np.zeros((300, 300, 3), np.uint8)


def _tiles(meta: FrameMeta, n: int) -> list[DetectRequest]:
    """An image's n tiles, as models.tiling.detect_tiles sends them."""
    return [DetectRequest(FRAME, dataclasses.replace(meta, width=512 - i, height=256),
                          classes=("unicorn",)) for i in range(n)]


def test_the_refused_tiles_of_one_image_count_once():
    for n in (3, 5):  # two halves plus the whole image; 2x2 plus the whole image
        refused = [InputError("unknown classes ['unicorn']", "classes")] * n
        assert rejected_images(_tiles(META, n), refused) == 1


def test_distinct_frames_of_a_group_count_each_and_good_ones_not_at_all():
    frames = [DetectRequest(FRAME, dataclasses.replace(META, frame_index=i)) for i in range(4)]
    results = [object(), InputError("frame must be uint8", "frame.shape"), object(),
               InputError("frame must be uint8", "frame.shape")]
    assert rejected_images(frames, results) == 2
    assert rejected_images(frames, [ModelError("the session failed")] * 4) == 0
    odd = [{"frame": FRAME}, "not a request", DetectRequest(FRAME, FrameMeta([1], 0, 0, 0, 1, 1))]
    assert rejected_images(odd, [InputError("expected a DetectRequest", "request")] * 3) == 3


def test_stats_count_a_tiled_bad_image_as_one_error():
    stats = DetectorStats()
    stats.record_batch(5, 0, 0.01, 0.0)  # the five tiles, all refused
    stats.record_rejected(rejected_images(
        _tiles(META, 5), [InputError("unknown classes", "classes")] * 5))
    assert (stats.snapshot()["requests"], stats.snapshot()["errors"]) == (5, 1)


def _serve_record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:  # noqa: BLE001 - a record as logger.exception makes it
        return logging.LogRecord("ray.serve", logging.ERROR, __file__, 1, "Request failed.",
                                 (), sys.exc_info())


def test_a_refused_request_is_one_warning_line_without_traceback():
    record = _serve_record(InputError("unknown classes ['dog'] for model m;\nit detects "
                                      "['person']", "classes"))
    assert RefusalAsWarning().filter(record)
    line = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert line == ("WARNING request refused (classes): unknown classes ['dog'] for model m; "
                    "it detects ['person']")
    assert record.exc_info is None and "Traceback" not in line


def test_other_failures_keep_their_error_and_traceback():
    record = _serve_record(ModelError("the session failed"))
    assert RefusalAsWarning().filter(record)
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert text.startswith("ERROR Request failed.") and "Traceback" in text
