"""panoray: camera streams to anonymous flow metrics on Ray.

The Python API (:mod:`pipeline.app.api`) is here: ``from pipeline import Site, run,
start``. Importing this package (or any below it) starts nothing and changes no
environment variable; :func:`run` and :func:`start` (and the CLI) do that, and the API's
module is imported only when one of its names is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LiveRun", "RunResult", "Site", "run", "start"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pipeline.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
