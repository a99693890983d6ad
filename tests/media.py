"""Real video for tests: H.264 clips made with PyAV from real photographs, at test time.

The clip pans scikit-image's ``astronaut`` (a photograph of a person) across a grey
canvas, so the detector has a real person to find in every frame and consecutive frames
differ. OpenCV's wheel cannot encode H.264; PyAV's can.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tests.images import astronaut_rgb


def panning_frames(n: int, width: int = 480, height: int = 270) -> list[np.ndarray]:
    """``n`` (height, width, 3) uint8 RGB frames: the astronaut moving left to right."""
    side = min(width, height)
    person = cv2.resize(astronaut_rgb(), (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((height, width, 3), 96, np.uint8)
        x = int((width - side) * i / max(1, n - 1))
        canvas[:side, x : x + side] = person
        frames.append(canvas)
    return frames


def write_clip(
    path: Path, n: int = 24, fps: float = 12.0, width: int = 480, height: int = 270,
    codec: str = "libx264", faststart: bool = False,
) -> Path:
    """Encodes ``panning_frames(n)`` to ``path`` (container from its extension).

    Args:
        path: output file (.mp4, .mkv, .avi, ...).
        n: frame count.
        fps: frame rate (frames/s); frame k has media time k / fps.
        codec: encoder (``libx264`` for H.264, ``mjpeg`` for Motion JPEG).
        faststart: MP4 only: put the index (moov) first, so a truncated file still opens.
    """
    import av

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for rgb in panning_frames(n, width, height):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_image_sequence(directory: Path, n: int = 10, fps: float | None = 10.0) -> Path:
    """Writes a MOTChallenge-style sequence: ``directory/img1/000001.jpg`` ... and, when
    ``fps`` is given, ``directory/seqinfo.ini``. Returns the ``img1`` directory."""
    img1 = directory / "img1"
    img1.mkdir(parents=True)
    for i, rgb in enumerate(panning_frames(n, 320, 180), start=1):
        cv2.imwrite(str(img1 / f"{i:06d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if fps is not None:
        (directory / "seqinfo.ini").write_text(
            f"[Sequence]\nname=test\nimDir=img1\nframeRate={fps:g}\nseqLength={n}\n"
            "imWidth=320\nimHeight=180\nimExt=.jpg\n"
        )
    return img1
