"""What callers send to the detector deployment; it answers with a
:class:`~pipeline.types.DetectedFrame`.

Kept apart from :mod:`models.deployment` so that callers (camera actors, the HTTP API)
need not import ONNX Runtime (about 100 MB and half a second per process) to build a
request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.types import FrameMeta


@dataclass(frozen=True)
class DetectRequest:
    """One frame to detect on.

    Attributes:
        frame: (input.height, input.width, 3) uint8 RGB, already resized with
            :func:`models.preprocess.prepare_frame` to the model's declared input.
        meta: where the frame came from; ``width`` and ``height`` are the original size
            that boxes are mapped back to.
        threshold: per-request score threshold override (0..1), or None.
        classes: per-request class-label filter override, or None.
    """

    frame: np.ndarray
    meta: FrameMeta
    threshold: float | None = None
    classes: tuple[str, ...] | None = None
