"""A camera whose pixel geometry does not fit its frame: `panoray validate` says which
line, without Ray. What `panoray run` does with it (that camera fails when its source
opens, the others run on, the run exits 3) is checked on the Ray job's run
(tests/cluster/test_ray_job.py), which has such a camera beside its good one."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"  # 768x576


def test_validate_names_pixel_geometry_outside_the_frame(tmp_path):
    outside = {"id": "door", "start": [100, 100], "end": [100, 600], "units": "pixel"}
    inside = {"id": "door", "start": [100, 100], "end": [100, 576], "units": "pixel"}
    site = {"cameras": [{"id": cid, "url": str(CLIP), "mode": "offline", "lines": [line]}
                        for cid, line in (("bad", outside), ("good", inside))]}
    (tmp_path / "site.yaml").write_text(json.dumps(site))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    validate = subprocess.run([sys.executable, "-m", "pipeline", "validate",
                               str(tmp_path / "site.yaml")], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env=env)
    assert validate.returncode == 2 and "cameras[0].lines[0]" in validate.stderr, validate.stderr
    assert "cameras[1]" not in validate.stderr, validate.stderr
