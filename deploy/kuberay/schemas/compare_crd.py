"""Compares the vendored RayCluster schema with KubeRay's CRD file, to check or refresh it.

    curl -LO https://raw.githubusercontent.com/ray-project/kuberay/v1.6.2/ray-operator/config/crd/bases/ray.io_rayclusters.yaml
    python deploy/kuberay/schemas/compare_crd.py ray.io_rayclusters.yaml

Prints every KubeRay-level difference (a field on one side only, another type, enum or
required list) and exits 1 when there is one, 0 when the vendored file matches. Where the
vendored file refers to a Kubernetes type ($ref), the CRD inlines that type from
k8s.io/api; those subtrees are Kubernetes' and are not compared. `status` is not compared
(users do not write it).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import yaml

VENDORED = pathlib.Path(__file__).resolve().parent / "raycluster.ray.io_v1.kuberay-v1.6.2.yaml"
COMPARED = ("type", "enum", "required")


def crd_schema(crd: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of ``version`` in a CustomResourceDefinition."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]
    raise KeyError(f"the CRD has no version {version!r}")


def differences(vendored: dict[str, Any], upstream: dict[str, Any], path: str = "") -> list[str]:
    """KubeRay-level differences between two schema trees, as ``path: what``."""
    if "$ref" in vendored:
        return []
    found = []
    for key in COMPARED:
        mine, theirs = vendored.get(key), upstream.get(key)
        if key in ("enum", "required"):
            mine, theirs = sorted(mine or []), sorted(theirs or [])
        if mine != theirs:
            found.append(f"{path or '(top)'}: {key} is {mine!r} here, {theirs!r} upstream")
    mine, theirs = vendored.get("properties", {}), upstream.get("properties", {})
    for name in sorted(theirs.keys() - mine.keys()):
        if not (path == "" and name == "status"):
            found.append(f"{path or '(top)'}: upstream has {name!r}")
    for name in sorted(mine.keys() - theirs.keys()):
        if not (path == "" and name == "status"):
            found.append(f"{path or '(top)'}: {name!r} is not upstream")
    for name in sorted(mine.keys() & theirs.keys()):
        if not (path == "" and name in ("status", "metadata")):
            found += differences(mine[name], theirs[name], f"{path}.{name}".lstrip("."))
    for key in ("items", "additionalProperties"):
        if isinstance(vendored.get(key), dict) and isinstance(upstream.get(key), dict):
            found += differences(vendored[key], upstream[key], f"{path}[{key}]")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    upstream = crd_schema(yaml.safe_load(pathlib.Path(argv[0]).read_text()))
    vendored = yaml.safe_load(VENDORED.read_text())["openAPIV3Schema"]
    found = differences(vendored, upstream)
    for line in found:
        print(line)
    print(f"{len(found)} differences between {VENDORED.name} and {argv[0]}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
