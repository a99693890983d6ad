"""The model registry, ONNX Runtime sessions and the detector deployment."""

from pipeline import serve_env as _serve_env

_serve_env.apply()
