"""cluster.yaml passes Ray's own cluster-launcher validation (no cloud access), and says
what panoray needs: GPU workers, panoray installed on every node, token authentication."""

import copy
import json
import pathlib
import re

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_ray_validates_the_prepared_config(cluster):
    prepared = prepare_config(copy.deepcopy(cluster))  # merges the AWS defaults, as `ray up`
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(max_wrokers=3), "Additional properties are not allowed ('max_wrokers'"),
        (lambda c: c.update(idle_timeout_minutes="soon"), "'soon' is not of type 'number'"),
        (lambda c: c["available_node_types"]["gpu-worker"].pop("node_config"),
         "'node_config' is a required property"),
        (lambda c: c["available_node_types"]["gpu-worker"]["resources"].update(GPU="one"),
         "'one' is not of type 'integer'"),
    ],
)
def test_the_validation_catches_mistakes(cluster, change, message):
    broken = copy.deepcopy(cluster)
    change(broken)
    with pytest.raises(jsonschema.ValidationError) as err:
        validate_config(prepare_config(broken))
    assert message in str(err.value)


def test_head_runs_no_detector_and_workers_bring_gpus(cluster):
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["node_config"]["InstanceType"].startswith("m5.")
    assert "GPU" not in head["resources"]
    gpu = types["gpu-worker"]
    assert gpu["node_config"]["InstanceType"].startswith("g5.")
    assert gpu["resources"]["GPU"] == 1 and gpu["min_workers"] >= 1


def test_every_node_installs_panoray_and_uses_token_auth(cluster):
    assert cluster["file_mounts"]["/home/ray/panoray"] == "."
    assert any("pip install" in cmd and "/home/ray/panoray" in cmd
               for cmd in cluster["setup_commands"])
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in cluster[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start), key
    assert "/home/ray/.ray/auth_token" in cluster["file_mounts"]
    head_start = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start  # job API only through the tunnel


def test_the_image_matches_the_installed_ray(cluster):
    tag = re.search(r"rayproject/ray:(\d+\.\d+)\.\d+-py311", cluster["docker"]["image"])
    assert tag, cluster["docker"]["image"]
    assert ray.__version__.startswith(tag.group(1) + ".")


@pytest.mark.parametrize("commands", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_every_node_starts_ray_with_panorays_serve_settings(cluster, commands):
    from pipeline.app.ray_env import SERVE_ENV

    started = " ".join(cluster[commands])
    for name, value in SERVE_ENV.items():
        assert f"{name}={value}" in started, f"{commands} does not export {name}={value}"


def test_the_head_starts_with_panorays_ray_system_config(cluster):
    from pipeline.app.ray_env import SYSTEM_CONFIG

    started = " ".join(cluster["head_start_ray_commands"])
    found = re.search(r"--system-config='(\{.*?\})'", started)
    assert found, "the head's ray start sets no --system-config"
    assert json.loads(found.group(1)) == SYSTEM_CONFIG
