"""Every data file inside panoray's packages is declared as package data, so that a
non-editable install (the container image's `pip install .`, a wheel) carries it: the
bundled model and its license, the dashboard, and the embedded demo that `panoray run`
plays with no config."""

import fnmatch
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "actors", "models")


def _package_data() -> dict[str, list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["tool"]["setuptools"]["package-data"]


def _data_files() -> list[pathlib.Path]:
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".pyc"} \
                    and "__pycache__" not in path.parts:
                files.append(path.relative_to(ROOT))
    return sorted(files)


def undeclared(files: list[pathlib.Path], package_data: dict[str, list[str]]) -> list[str]:
    """The files that no package-data glob of an enclosing package matches."""
    missing = []
    for path in files:
        declared = False
        for package, globs in package_data.items():
            base = pathlib.Path(*package.split("."))
            if base in path.parents:
                relative = path.relative_to(base).as_posix()
                declared |= any(fnmatch.fnmatch(relative, g) for g in globs)
        if not declared:
            missing.append(path.as_posix())
    return missing


def test_every_data_file_in_the_packages_is_package_data():
    files = _data_files()
    assert pathlib.Path("pipeline/demo/vtest.mp4") in files  # the walk sees the demo
    assert undeclared(files, _package_data()) == []


@pytest.mark.parametrize(
    ("drop", "lost"),
    [("pipeline", "pipeline/demo/vtest.mp4"), ("models", "models/bundled/LICENSE.ssdlite")],
)
def test_the_check_names_a_file_left_out(drop, lost):
    package_data = {k: v for k, v in _package_data().items() if k != drop}
    assert lost in undeclared(_data_files(), package_data)
