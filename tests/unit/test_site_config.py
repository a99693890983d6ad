"""The deployment file: the README's example and the demo validate, cameras' settings are
grouped, analytics are one config, sinks a list chosen by type; errors give key paths."""

from __future__ import annotations

import pathlib
import re

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigFileError
from pipeline.sinks import ParquetSinkConfig
from pipeline.site_config import DEMO_CONFIG, SiteConfig, load_site_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def readme_site_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running a site", 1)[1]
    return re.search(r"```yaml\n(.+?)\n```", section, re.S).group(1)


def test_the_readme_example_validates_with_what_it_says() -> None:
    cfg = load_config(readme_site_example(), SiteConfig)
    (cam,) = cfg.cameras
    assert (cam.id, cam.mode, cam.target_fps) == ("entrance", "live", 10)
    assert (cam.source.transport, cam.reconnect.max_s, cam.stills.max_side) == ("tcp", 30, 640)
    assert [z.id for z in cam.zones] == ["lobby", "tills"] and cam.zones[1].queue
    assert cfg.analytics.heatmap.columns == 64
    assert [s.type for s in cfg.sinks] == ["parquet"] and cfg.sinks[0].events_retention_days == 30


def test_the_demo_validates() -> None:
    cfg = load_site_config(DEMO_CONFIG)
    assert [c.id for c in cfg.cameras] == ["campus-a", "campus-b", "campus-c"]
    assert all(c.source.max_frames == 600 for c in cfg.cameras)
    assert pathlib.Path(str(cfg.cameras[0].url)).is_file()  # resolved against the file


def test_a_cameras_analytics_are_the_sites_settings_with_its_zones_and_lines() -> None:
    cfg = SiteConfig.model_validate({
        "cameras": [{"id": "a", "url": "rtsp://h/x",
                     "lines": [{"id": "door", "start": [0.5, 0], "end": [0.5, 1]}]}],
        "analytics": {"window_s": 30, "heatmap": {"columns": 16}},
    })
    analytics = cfg.analytics_for(cfg.cameras[0])
    assert (analytics.window_s, analytics.heatmap.columns) == (30, 16)
    assert [ln.id for ln in analytics.lines] == ["door"] and analytics.zones == ()


def test_the_default_sink_is_parquet_and_output_overrides_its_root(tmp_path) -> None:
    cfg = SiteConfig.model_validate({"cameras": [{"id": "a", "url": "rtsp://h/x"}]})
    assert cfg.sinks == (ParquetSinkConfig(),) and cfg.output_dir == pathlib.Path("panoray-output")
    moved = cfg.with_output(tmp_path / "out")
    assert moved.output_dir == tmp_path / "out" and moved.output_dir.is_absolute()
    assert cfg.with_output().output_dir == pathlib.Path("panoray-output").resolve()
    none = cfg.model_copy(update={"sinks": ()})
    assert none.output_dir is None and none.with_output(tmp_path).output_dir == tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cameras: [{id: a, url: x.mp4, max_frames: 3}]",
         "cameras[0].max_frames (line 1): unknown key"),
        ("cameras: [{id: a, url: x.mp4, stills: {interval_s: 0}}]",
         "cameras[0].stills.interval_s (line 1): Input should be greater than 0"),
        ("cameras: [{id: a, url: x.mp4}]\nanalytics: {heatmap_columns: 8}",
         "analytics.heatmap_columns (line 2): unknown key"),
        ("cameras: [{id: a, url: x.mp4}]\nanalytics:\n  zones: [{id: z, points: [[0, 0], "
         "[1, 0], [1, 1]]}]", "analytics: zones and lines belong to a camera"),
        ("cameras: [{id: a, url: x.mp4, zones: [{id: z, points: [[0, 0], [1, 0], [1, 1]], "
         "exit_grace_s: 20}]}]",
         "cameras[0] (a): window_grace_s (10.0) must be at least zone 'z'"),
        ("cameras: [{id: a, url: x.mp4}]\nsinks: {root: out}",
         "sinks (line 2): Input should be a valid tuple"),
        ("cameras: [{id: a, url: x.mp4}]\nsinks: [{type: kafka}]", "sinks[0].type (line 2)"),
    ],
)
def test_errors_name_the_key_path_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigFileError) as err:
        load_config(text, SiteConfig)
    assert message in str(err.value)


def test_relative_file_urls_are_the_config_folders_never_the_working_directorys(
        tmp_path, monkeypatch) -> None:
    """A clip named relatively is looked for beside the config only: one of that name in
    the working directory is not picked up instead (it was, silently, when the config's
    folder lacked it), and a missing one names the folder searched."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "decoy.mp4").write_bytes(b"x")
    (tmp_path / "sub" / "site.yaml").write_text(
        "cameras:\n  - {id: a, url: decoy.mp4}\n  - {id: b, url: '0'}\n"
        "  - {id: c, url: rtsp://h/x}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_site_config(tmp_path / "sub" / "site.yaml")
    assert [str(c.url) for c in cfg.cameras] == [
        str(tmp_path / "sub" / "decoy.mp4"), "0", "rtsp://h/x"]
