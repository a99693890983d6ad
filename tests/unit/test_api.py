"""The Python API without Ray: importing it is light, a Site is the YAML's model, a run's
result reads its own rows as Arrow tables, and the documented examples run (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import subprocess
import sys

import pytest

from pipeline.analytics.events import Event
from pipeline.errors import InputError
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from pipeline.site_config import DEMO_CONFIG, SiteConfig, load_site_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENTED = ("pipeline.app.api", "pipeline.analytics.plugins", "pipeline.analytics.plugin_host",
              "pipeline.sinks.plugin_tables", "panoray_flowtime")


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_documented_examples_run(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "plugins" / "flowtime"))
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, name


def test_importing_the_api_names_starts_nothing():
    """Ray, ONNX Runtime and the HTTP stack load only when a run starts (the site config
    reads OpenCV's capture constants, so cv2 may load with it)."""
    code = ("import sys; from pipeline import Site, run, start, RunResult, LiveRun; "
            "heavy = sorted(m for m in ('ray', 'onnxruntime', 'fastapi') if m in "
            "sys.modules); assert not heavy, heavy; import pipeline; "
            "assert pipeline.run is run and callable(start)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_unknown_name_is_an_attribute_error():
    import pipeline

    with pytest.raises(AttributeError, match="has no attribute 'Runner'"):
        pipeline.Runner  # noqa: B018


def test_a_site_is_the_yaml_model():
    from pipeline import Site

    site = Site.from_yaml(DEMO_CONFIG)
    assert isinstance(site, SiteConfig) and site == Site.of(load_site_config(DEMO_CONFIG))
    assert Site.of(site) is site and Site.of(str(DEMO_CONFIG)) == site
    assert pathlib.Path(site.cameras[0].url).is_absolute()  # resolved against the file
    built = Site.of({"cameras": [{"id": "door", "url": "rtsp://cam/1"}]})
    assert built.cameras[0].id == "door" and built.sinks[0].type == "parquet"


def _write(root: pathlib.Path, run_id: str, n: int) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=root), run_id=run_id)
    sink.write([Event("cam1", "line_cross", "door", "in", i, float(i), 1.8e9 + i, None)
                for i in range(n)], [], {})
    sink.close()


def test_a_result_reads_only_its_own_run(tmp_path):
    from pipeline import RunResult

    _write(tmp_path, "run-a", 3)
    _write(tmp_path, "run-b", 5)
    events = RunResult({}, "ended", "run-a", tmp_path).events()
    assert events.num_rows == 3 and set(events.column("run_id").to_pylist()) == {"run-a"}
    assert set(events.column("camera_id").to_pylist()) == {"cam1"}
    assert RunResult({}, "ended", "run-b", tmp_path).metrics().num_rows == 0
    with pytest.raises(InputError, match="is not a folder under"):
        RunResult({}, "ended", "run-a", tmp_path).table("../elsewhere")
    with pytest.raises(InputError, match="no Parquet sink"):
        RunResult({}, "ended", "run-a", None).events()
