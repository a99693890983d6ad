"""Every benchmark runs as a plain script from a fresh shell: ``python benchmarks/X.py``.

Python puts the script's folder first on ``sys.path``, so a benchmark module named like
one of panoray's packages would shadow it (``benchmarks/pipeline.py`` once did). Each
script is started as a user would, in a subprocess from the repository root, with
``--help``: it must import everything it needs and exit 0.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "__init__.py")


def test_every_runnable_benchmark_is_found() -> None:
    assert {p.stem for p in SCRIPTS} >= {"accuracy", "analytics", "audit", "detector",
                                         "end_to_end", "ingest", "tracking"}


def _top_level_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_benchmark_module_shadows_a_package_the_scripts_import() -> None:
    """A name a benchmark imports that is both a benchmarks/ module and a package found
    elsewhere (panoray's, the standard library's, an installed one) is shadowed."""
    local = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    imported = set().union(*(_top_level_imports(p) for p in (ROOT / "benchmarks").glob("*.py")))
    code = ("import importlib.util, json, sys; sys.path = [p for p in sys.path if p]; "
            f"print(json.dumps([n for n in {sorted(imported & local)!r} "
            "if importlib.util.find_spec(n) is not None]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "models", text=True,
                         capture_output=True, check=True).stdout
    clashes = set(json.loads(out)) | (local & {"pipeline", "models", "actors", "tests"})
    assert not clashes, f"benchmarks/ modules shadow packages: {sorted(clashes)}"


def test_every_benchmark_answers_help_as_a_plain_script() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    procs = {p.name: subprocess.Popen([sys.executable, f"benchmarks/{p.name}", "--help"],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
             for p in SCRIPTS}
    failed = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0 or "usage:" not in out:
            failed[name] = out[-1500:]
    assert not failed, failed
