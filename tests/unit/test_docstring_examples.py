"""Every ``>>>`` example in panoray's modules runs and prints what it says (doctest).

A newcomer copies these examples first; one that no longer runs (a renamed argument, a
name never defined) teaches the wrong API. Examples that need a running cluster or a
file that is not there carry ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for package in ("pipeline", "actors", "models")
    for p in (ROOT / package).rglob("*.py")
    if p.name not in ("__init__.py", "__main__.py") and ">>>" in p.read_text(encoding="utf-8")
)


def test_examples_are_found() -> None:
    assert {"pipeline.mot", "models.detector", "pipeline.analytics.coverage"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
