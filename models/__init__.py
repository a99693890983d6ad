"""The model registry, ONNX Runtime sessions and the detector deployment."""
