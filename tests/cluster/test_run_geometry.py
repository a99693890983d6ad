"""A camera whose pixel geometry does not fit its frame fails visibly when its source
opens, before any frame flows, and the others run on: `panoray run` as a user runs it."""

import json
import os
import pathlib
import subprocess
import sys

from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"  # 768x576
FRAMES = 40


def test_pixel_geometry_outside_the_frame_fails_that_camera_and_the_run_exits_3(tmp_path):
    outside = {"id": "door", "start": [100, 100], "end": [100, 600], "units": "pixel"}
    inside = {"id": "door", "start": [100, 100], "end": [100, 576], "units": "pixel"}
    site = {
        "cameras": [{"id": cid, "url": str(CLIP), "mode": "offline", "lines": [line],
                     "source": {"max_frames": FRAMES}}
                    for cid, line in (("bad", outside), ("good", inside))],
        "analytics": {"window_s": 1, "window_grace_s": 1, "min_distinct_tracks": 1},
        "http": {"port": free_port()},
    }
    (tmp_path / "site.yaml").write_text(json.dumps(site))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    validate = subprocess.run([sys.executable, "-m", "pipeline", "validate",
                               str(tmp_path / "site.yaml")], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env=env)
    assert validate.returncode == 2 and "cameras[0].lines[0]" in validate.stderr
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", str(tmp_path / "site.yaml"),
                             "--output", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, env=env)
    out = result.stdout
    assert result.returncode == 3, out[-3000:] + result.stderr[-3000:]
    summary = json.loads(out[out.index("{\n"):out.rindex("}") + 1])
    bad, good = summary["cameras"]["bad"], summary["cameras"]["good"]
    assert bad["state"] == "failed", bad
    assert ("lines[0]: line 'door': point (100, 600) lies outside the 768x576 frame"
            in bad["reason"]), bad
    assert bad["frames_decoded"] == 0 and bad["frames_delivered"] == 0
    assert good["state"] == "ended" and good["frames_delivered"] == FRAMES, good
