"""The sink's file layer: whole files only, written atomically. No Ray.

Every output file is written to a dot-named temporary file in its directory, synced and
renamed into place with ``os.replace``, so readers (and a crash) never see part of one.
Tests replace a sink's ``write_file`` with one that fails (a full disk) at this layer.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "a" / "x.bin"
    >>> write_atomically(path, lambda tmp: tmp.write_bytes(b"1"), "tok"); path.read_bytes()
    b'1'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(final: Path, write: Callable[[Path], Any], token: str) -> None:
    """The sink's file layer: ``write(tmp)`` to a dot-named temporary file beside
    ``final``, synced and renamed into place; the temporary file is removed on failure.

    Raises:
        OSError: the write failed (``final`` is untouched).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{token}.tmp"
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, final)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def check_writable_folder(path: Path, what: str) -> None:
    """Makes sure ``path`` is a folder this process can write files in (created when
    missing), before a run starts anything: a bad output folder is refused by name, not
    found by an actor minutes later.

    Raises:
        ConfigError: ``path`` is a file, cannot be created, or cannot be written in
            (read-only file system, permissions); ``what`` names the setting.
    """
    import tempfile

    from pipeline.errors import ConfigError

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is not a folder", what)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".panoray-write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write in {path}: {exc.strerror or exc}", what) from None
