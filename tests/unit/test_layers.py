"""The code's layers only point down, found by reading every import (ast; nothing is
imported), and importing panoray's packages changes nothing.

Layers, lowest first (ARCHITECTURE.md draws them): a module may import modules of its own
unit, and any unit of a lower layer. Units of one layer are independent of each other,
except in the open layers at the bottom and the top, whose small modules use each other
freely.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "actors", "models")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("types", ("pipeline.errors", "pipeline.types", "pipeline.boxes", "pipeline.config",
               "pipeline.backoff", "pipeline.http_config",
               "pipeline.privacy", "pipeline.redact")),
    ("cores", ("models", "pipeline.tracking", "pipeline.analytics", "pipeline.mot")),
    ("stages and outputs", ("pipeline.ingest", "pipeline.sinks", "pipeline.dashboard",
                            "pipeline.alerts")),
    ("site", ("pipeline.site_config", "pipeline.control")),
    ("actors", ("actors",)),
    ("entry points", ("pipeline.app", "pipeline.__main__", "pipeline")),
]
"""(layer, its units). A unit is a module or package; a module belongs to the longest
unit that names it or a package above it (``pipeline`` itself is the package's front)."""

OPEN_LAYERS = {"types", "entry points"}

MAX_LINES = 450
LONGER_ALLOWED = {"pipeline/tracking/tracker.py", "pipeline/tracking/smoothing.py"}
"""The tracker and smoother algorithms may exceed :data:`MAX_LINES`: each is one algorithm
whose parts only make sense together."""


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> tuple[int, str] | None:
    """(layer index, unit) of a module of panoray's packages, or None."""
    best = None
    for index, (_, units) in enumerate(LAYERS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (
                    best is None or len(unit) > len(best[1])):
                best = (index, unit)
    return best


def imports_of(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (lazy imports count)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return out


def sources() -> list[pathlib.Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert not [module_name(p) for p in sources() if unit_of(module_name(p)) is None]


def test_no_import_points_up_or_sideways() -> None:
    wrong = []
    for path in sources():
        own = unit_of(module_name(path))
        assert own is not None
        for line, name in imports_of(path):
            if name.split(".")[0] not in PACKAGES:
                continue
            target = unit_of(name)
            if target is None or target[1] == own[1]:
                continue
            upward = target[0] > own[0]
            sideways = target[0] == own[0] and LAYERS[own[0]][0] not in OPEN_LAYERS
            if upward or sideways:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({LAYERS[own[0]][0]}) imports "
                             f"{name} ({LAYERS[target[0]][0]})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_product_never_imports_benchmarks_or_tests() -> None:
    """Scoring (trackeval) and the detection simulator live in benchmarks/ and are not
    runtime dependencies: no product module imports benchmarks/ or tests/, lazily or not."""
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sources() for line, name in imports_of(path)
             if name.split(".")[0] in ("benchmarks", "tests")]
    assert not wrong, "\n".join(wrong)


def test_the_walk_finds_an_upward_import(tmp_path: pathlib.Path) -> None:
    """The check can fail: a core module importing an actor is reported."""
    fake = ROOT / "pipeline" / "tracking" / "_layer_probe.py"
    assert unit_of(module_name(fake)) == (1, "pipeline.tracking")
    fake_imports = ast.parse("def f():\n    from actors.graph import ActorGraph\n")
    names = [n.module for n in ast.walk(fake_imports) if isinstance(n, ast.ImportFrom)]
    assert names == ["actors.graph"] and unit_of(names[0])[0] > 1


def test_no_module_is_longer_than_the_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert set(long) <= LONGER_ALLOWED, long


@pytest.mark.parametrize("package", ["pipeline", "models", "actors"])
def test_importing_a_package_starts_nothing_and_changes_no_environment(package: str) -> None:
    code = (
        "import os, sys; before = dict(os.environ); "
        f"import {package}; "
        "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items()); "
        "heavy = sorted(m for m in ('ray', 'onnxruntime', 'cv2', 'fastapi') if m in sys.modules); "
        f"assert {package!r} == 'actors' or not heavy, heavy"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_SERVE_")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_scipy_loads_only_where_tracks_are_assigned() -> None:
    """Every process holding a tracker actor's handle imports the actor's module (Ray loads
    the class of each handle it unpickles); camera actors hold one, and SciPy would cost
    each 0.4 CPU-s and about 32 MB."""
    code = (
        "import sys, numpy as np, actors.tracker_actor, actors.camera_actor; "
        "assert 'scipy' not in sys.modules; "
        "from pipeline.tracking.association import assign; "
        "rows, cols = assign(np.array([[0.9, 0.8], [0.8, 0.3]]), 0.5); "
        "assert (rows.tolist(), cols.tolist()) == ([0, 1], [1, 0]), (rows, cols); "
        "assert 'scipy' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
