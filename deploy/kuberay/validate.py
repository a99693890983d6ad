"""Validates deploy/kuberay without a cluster: the RayCluster against KubeRay's CRD schema
(schemas/), every other object against Kubernetes' JSON schemas (the kubernetes-validate
package), unknown keys being errors at every level, as with kubectl's strict field
validation.

    python deploy/kuberay/validate.py [DIR]     # exit 0 and a summary, or each error, exit 1

It reads DIR/kustomization.yaml the way `kubectl apply -k` does for the features used
here (resources, configMapGenerator and secretGenerator with files and envs); images and
labels do not change what is validated. tests/unit/test_kuberay.py also renders the
directory with kubectl's own kustomize and compares.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib.resources
import json
import pathlib
import sys
from typing import Any

import jsonschema
import referencing
import yaml

HERE = pathlib.Path(__file__).resolve().parent
KUBERAY_SCHEMA = HERE / "schemas" / "raycluster.ray.io_v1.kuberay-v1.6.2.yaml"
KUBERNETES_VERSION = "1.30"
"""Kubernetes schemas the objects and the RayCluster's pod templates are checked against:
the oldest minor version these manifests are meant for, so that a field added to
Kubernetes later is reported rather than silently dropped by an older API server."""

K8S_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"


class ManifestError(ValueError):
    """A manifest that does not parse or does not validate; the message names the object
    (kind/name), the key path and what was wrong."""


def _kubernetes_schemas(strict: bool = True) -> importlib.resources.abc.Traversable:
    name = f"v{KUBERNETES_VERSION}.0-local" + ("-strict" if strict else "")
    try:
        package = importlib.resources.files("kubernetes_validate")
    except ModuleNotFoundError:
        raise ManifestError("the kubernetes-validate package is not installed; "
                            "`bash scripts/setup.sh --test` installs it") from None
    return package / "kubernetes-json-schema" / name


def _load_json(path: importlib.resources.abc.Traversable) -> dict[str, Any]:
    return json.loads(path.read_text())


def close_objects(schema: Any) -> Any:
    """A copy of a CRD schema in which every object that lists ``properties`` rejects other
    keys (``additionalProperties: false``), except where the schema keeps unknown fields
    (``x-kubernetes-preserve-unknown-fields``) or already says what other keys may be.
    ``$ref``'d Kubernetes schemas are not touched (the strict ones are closed already)."""
    if isinstance(schema, list):
        return [close_objects(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: close_objects(value) for key, value in schema.items()}
    if ("properties" in closed and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")):
        closed["additionalProperties"] = False
    return closed


def kuberay_schema() -> dict[str, Any]:
    """The vendored RayCluster schema as a closed JSON Schema (see :func:`close_objects`)."""
    document = yaml.safe_load(KUBERAY_SCHEMA.read_text())
    schema = close_objects(document["openAPIV3Schema"])
    schema["properties"]["apiVersion"]["enum"] = [f"{document['group']}/{document['version']}"]
    schema["properties"]["kind"]["enum"] = [document["kind"]]
    return schema


@functools.cache
def _registry() -> referencing.Registry:
    definitions = referencing.Resource.from_contents(
        _load_json(_kubernetes_schemas() / "_definitions.json"))
    return referencing.Registry().with_resource(K8S_DEFINITIONS_URI, definitions)


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def _kubernetes_schema(obj: dict[str, Any]) -> dict[str, Any]:
    group_version = obj.get("apiVersion", "")
    group, _, version = group_version.rpartition("/")
    suffix = f"{group.split('.')[0]}-{version}" if group else version
    path = _kubernetes_schemas() / f"{str(obj.get('kind', '')).lower()}-{suffix}.json"
    if not path.is_file():
        raise ManifestError(f"{_name(obj)}: no schema for apiVersion {group_version!r} kind "
                            f"{obj.get('kind')!r} in Kubernetes {KUBERNETES_VERSION}")
    return _load_json(path)


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


def errors(obj: dict[str, Any]) -> list[str]:
    """Every schema violation of one object, as ``Kind/name: key.path: message``."""
    if not isinstance(obj, dict):
        return [f"a manifest document is a {type(obj).__name__}, not an object"]
    if obj.get("apiVersion", "").startswith("ray.io/"):
        if obj.get("kind") != "RayCluster":
            return [f"{_name(obj)}: only RayCluster has a vendored KubeRay schema here"]
        schema = kuberay_schema()
    else:
        schema = _kubernetes_schema(obj)
    found = sorted(_validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{_name(obj)}: {_path(e)}: {e.message}" for e in found]


def _path(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "(top level)"


def load_documents(path: pathlib.Path) -> list[dict[str, Any]]:
    """The YAML documents of one manifest file (empty documents skipped)."""
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path.name}: not valid YAML: {exc}") from None


def _env_pairs(path: pathlib.Path) -> dict[str, str]:
    pairs = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ManifestError(f"{path.name}:{number}: expected KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def _generated(directory: pathlib.Path, spec: dict[str, Any], kind: str) -> dict[str, Any]:
    data: dict[str, str] = {}
    for entry in spec.get("files", []):
        key, _, file = entry.rpartition("=")
        data[key or pathlib.Path(file).name] = (directory / file).read_text()
    for env in spec.get("envs", []):
        path = directory / env
        if not path.is_file():
            raise ManifestError(f"{spec['name']}: {env} does not exist (kustomize needs it)")
        data.update(_env_pairs(path))
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        obj["type"] = "Opaque"
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        obj["data"] = data
    return obj


def render(directory: pathlib.Path = HERE) -> list[dict[str, Any]]:
    """The objects that ``kubectl apply -k DIRECTORY`` creates (see the module docstring)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization.get("resources", []):
        objects += load_documents(directory / resource)
    for spec in kustomization.get("configMapGenerator", []):
        objects.append(_generated(directory, spec, "ConfigMap"))
    for spec in kustomization.get("secretGenerator", []):
        objects.append(_generated(directory, spec, "Secret"))
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of ``kind`` named ``name`` (a deep copy)."""
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return copy.deepcopy(obj)
    raise KeyError(f"{kind}/{name}")


def validate_all(objects: list[dict[str, Any]]) -> None:
    """Raises ManifestError listing every violation of every object."""
    found = [message for obj in objects for message in errors(obj)]
    if found:
        raise ManifestError("\n".join(found))


def main(argv: list[str]) -> int:
    directory = pathlib.Path(argv[0]) if argv else HERE
    try:
        objects = render(directory)
        validate_all(objects)
    except ManifestError as exc:
        print(f"invalid manifests in {directory}:\n{exc}", file=sys.stderr)
        return 1
    print(f"{directory}: {len(objects)} objects valid (KubeRay {KUBERAY_SCHEMA.stem}, "
          f"Kubernetes {KUBERNETES_VERSION}): "
          + ", ".join(_name(obj) for obj in objects))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
