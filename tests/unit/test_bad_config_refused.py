"""Every bad config found in the probes of issue 19 is refused, naming the key, and
`panoray validate` exits 2 on it (no Ray here)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from pipeline.errors import ConfigFileError
from pipeline.site_config import load_site_config
from tests.media import write_clip

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-secret"


def _issues(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as err:
        load_site_config(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # NaN and infinite coordinates (YAML .nan / .inf)
        ("cameras:\n  - id: a\n    url: /x.mp4\n"
         "    zones: [{id: z, points: [[0, 0], [.nan, 0.5], [1, 1]]}]\n",
         "cameras[0].zones[0].points[1][0] (line 4): Input should be a finite number"),
        ("cameras:\n  - id: a\n    url: /x.mp4\n"
         "    lines: [{id: l, start: [0, 0], end: [.inf, 1], units: pixel}]\n",
         "cameras[0].lines[0].end[0] (line 4): Input should be a finite number"),
        # and in every other number of the config
        ("cameras:\n  - {id: a, url: /x.mp4}\nrun: {duration_s: .inf}\n",
         "run.duration_s (line 3): Input should be a finite number"),
        ("cameras:\n  - {id: a, url: /x.mp4, source: {fps: .nan}}\n",
         "cameras[0].source.fps (line 2): Input should be a finite number"),
        # a line too short to count anything
        ("cameras:\n  - id: a\n    url: /x.mp4\n"
         "    lines: [{id: l, start: [0.5, 0.5], end: [0.5, 0.5000000000001]}]\n",
         "cameras[0].lines[0] (line 4): line 'l': start and end are 1.00031e-13 apart; "
         "a line must be at least 0.001 long"),
        # a key given twice: PyYAML would keep the second silently
        ("cameras:\n  - id: a\n    url: /x.mp4\n    url: /y.mp4\n",
         "(line 4): invalid YAML: key 'url' is given twice (first on line 3)"),
        # `url: yes` is the boolean True, which would open device 1
        ("cameras:\n  - id: a\n    url: yes\n", "cameras[0].url (line 3): url is the boolean True"),
        # the file system root as a media root
        ("cameras:\n  - {id: a, url: /x.mp4}\nhttp: {media_roots: [/]}\n",
         "http.media_roots (line 3): media_roots[0]: '/' is the file system root"),
        ("cameras:\n  - {id: a, url: /x.mp4}\nhttp: {media_roots: [../../../../../../../../..]}\n",
         "http.media_roots[0]: '"),
        # a token of 16 spaces is not a token
        ("cameras:\n  - {id: a, url: /x.mp4}\nhttp: {token: '                '}\n",
         "http (line 3): token holds white space or control characters"),
        ("cameras:\n  - {id: a, url: /x.mp4}\nhttp: {allowed_hosts: ['not a host!']}\n",
         "allowed_hosts[0]: 'not a host!' is neither an IP network nor a host name pattern"),
        # two Parquet sinks writing one folder: every row twice
        ("cameras:\n  - {id: a, url: /x.mp4}\n"
         "sinks: [{type: parquet, root: /tmp/out}, {type: parquet, root: /tmp/./out/}]\n",
         "sinks[1] writes to '/tmp/out', as sinks[0] does: every row would be written twice"),
    ],
)
def test_bad_config_is_refused_naming_the_key(tmp_path, text, message):
    assert message in _issues(tmp_path, text)


def test_a_yaml_syntax_error_never_prints_the_line_it_is_on(tmp_path):
    text = f"cameras:\n  - id: a\n    url: 'rtsp://u:{PASSWORD}@h/x' trailing: [\n"
    message = _issues(tmp_path, text)
    assert "(line 3): invalid YAML" in message
    assert PASSWORD not in message and "rtsp://" not in message


def _validate(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "validate", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_validate_refuses_pixel_geometry_outside_a_files_frame(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=4, width=320, height=240)
    line = {"id": "door", "start": [10, 10], "end": [10, 264], "units": "pixel"}  # 24 px below
    zone = {"id": "z", "points": [[0, 0], [320, 0], [320, 240]], "units": "pixel"}  # on the edge
    wide = {"id": "w", "points": [[0, 0], [330, 0], [330, 240]], "units": "pixel"}  # 10 px out
    site = {"cameras": [{"id": "ok", "url": str(clip), "zones": [zone]},
                        {"id": "bad", "url": str(clip), "zones": [zone, wide], "lines": [line]}]}
    text = json.dumps(site, indent=1)  # YAML too, a key per line
    (tmp_path / "site.yaml").write_text(text)
    result = _validate(tmp_path / "site.yaml")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = text.splitlines()
    door = lines.index('   "lines": [') + 2  # the item's line, 1-based
    assert (f"cameras[1].lines[0] (line {door}): line 'door': point (10, 264) lies outside the "
            "320x240 frame" in result.stderr), result.stderr
    wide_at = next(i for i, t in enumerate(lines) if '"w"' in t) + 2  # its points, 1-based
    assert (f"cameras[1].zones[1].points (line {wide_at}): zone 'w': point (330, 0) lies "
            "outside" in result.stderr), result.stderr  # every bad one, not the first only
    assert "cameras[0]" not in result.stderr
    site["cameras"].pop()
    (tmp_path / "site.yaml").write_text(json.dumps(site))
    result = _validate(tmp_path / "site.yaml")
    assert result.returncode == 0, result.stderr


def test_serve_refuses_an_unknown_model_before_starting_ray():
    """`panoray serve --model` with neither a bundled name nor an .onnx file: exit 2 and
    the reason, before Ray starts (no replica retries, no tracebacks)."""
    out = subprocess.run([sys.executable, "-m", "pipeline", "serve", "--model", "nosuchmodel"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RAY_ADDRESS": ""})
    assert out.returncode == 2, out.stderr
    assert "unknown model 'nosuchmodel': not a bundled model" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize("case", ["root is a file", "export is a file", "output twice"])
def test_run_refuses_an_output_it_cannot_write_before_starting_anything(tmp_path, case):
    """An output folder that is a file (or --output for two Parquet sinks) stops `panoray
    run` at once, exit 2, naming the setting: not an actor's traceback once Ray and
    Serve have started (found by an exploratory test of the output side)."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    sinks = [{"type": "parquet", "root": str(blocker if case == "root is a file" else
                                             tmp_path / "out")}]
    if case == "output twice":
        sinks.append({"type": "parquet", "root": str(tmp_path / "out2")})
    site = {"cameras": [{"id": "a", "url": str(tmp_path / "clip.mp4")}], "sinks": sinks}
    (tmp_path / "site.yaml").write_text(json.dumps(site))
    args = {"root is a file": [], "export is a file": ["--export-tracks", str(blocker)],
            "output twice": ["--output", str(tmp_path / "one")]}[case]
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", str(tmp_path / "site.yaml"), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "RAY_ADDRESS": ""})
    assert result.returncode == 2, result.stdout + result.stderr
    expected = {"root is a file": f"sinks[0].root: {blocker} is not a folder",
                "export is a file": f"--export-tracks: {blocker} is not a folder",
                "output twice": "would send the 2 Parquet sinks of the config to one folder"}
    assert expected[case] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "running" not in result.stdout
