"""Keeping a camera's file reads inside its allowed folders (``source.confine_to``).

The runtime API confines cameras it adds to ``http.media_roots``. The check is made on
the real path (symlinks and ``..`` resolved) of every file as it is opened, not once on
the URL, so a symlinked ``img1`` folder or image inside a root cannot lead outside it.

Example:
    >>> within("/srv/media/a/../b.mp4", ["/srv/media"])
    True
    >>> within("/srv/media/../etc/passwd", ["/srv/media"])
    False
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

from pipeline.errors import SourceNotFoundError
from pipeline.ingest.config import CameraConfig


def within(path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]]) -> bool:
    """True when the real path of ``path`` is one of ``roots`` (real paths) or under one."""
    real = pathlib.Path(os.path.realpath(path))
    for root in roots:
        base = pathlib.Path(os.path.realpath(root))
        if real == base or real.is_relative_to(base):
            return True
    return False


def check_confined(config: CameraConfig, kind: str, path: str | os.PathLike[str]) -> None:
    """Refuses to open ``path`` when the camera is confined and it lies outside.

    Raises:
        SourceNotFoundError: not retryable; the message names the file as the camera's
            folder sees it (its name), never the path it resolves to.
    """
    roots = config.source.confine_to
    if roots and not within(path, roots):
        raise SourceNotFoundError(
            config.id, kind, config.redacted_url,
            f"{pathlib.Path(path).name!r} resolves outside the camera's allowed folders "
            "(http.media_roots); symlinks may not lead out of them",
        )
