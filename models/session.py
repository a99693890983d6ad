"""ONNX Runtime sessions and execution-provider selection.

``onnxruntime-gpu`` lists CUDA and TensorRT providers even where no GPU or CUDA library
exists, and then silently runs on the CPU. So the provider in use is always read back from
``session.get_providers()`` after creation, and an explicitly requested provider that did
not load is an error.
"""

from __future__ import annotations

import ctypes.util
import logging
import pathlib

import onnxruntime as ort

from pipeline.errors import ModelError, ProviderUnavailableError

log = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_PREFERENCE = ("tensorrt", "cuda", "cpu")
_ORT_LOG_FATAL_ONLY = 4


def short_provider_name(ort_name: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda``; unknown names are returned lower-cased."""
    short = {full: short for short, full in PROVIDER_NAMES.items()}.get(ort_name)
    return short or ort_name.removesuffix("ExecutionProvider").lower()


def _tensorrt_libraries_present() -> bool:
    """True when the TensorRT runtime library can be found by the dynamic loader."""
    return ctypes.util.find_library("nvinfer") is not None


def create_session(
    path: pathlib.Path, provider: str = "auto", intra_op_threads: int = 0,
    allow_spinning: bool = False,
) -> tuple[ort.InferenceSession, str]:
    """Creates a session on the best (``auto``) or the named execution provider.

    Args:
        path: the .onnx file.
        provider: ``auto``, ``tensorrt``, ``cuda`` or ``cpu``.
        intra_op_threads: ONNX Runtime intra-op thread count; 0 lets it choose.
        allow_spinning: let idle intra-op threads spin (busy-wait) between runs.

    Returns:
        (session, short name of the provider that actually runs the graph).

    Raises:
        ProviderUnavailableError: a named provider is not built in or failed to load.
        ModelError: the file is missing or is not a loadable ONNX model.
    """
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    built_in = ort.get_available_providers()
    if provider == "auto":
        wanted = [PROVIDER_NAMES[p] for p in AUTO_PREFERENCE if PROVIDER_NAMES[p] in built_in]
        if not _tensorrt_libraries_present() and PROVIDER_NAMES["tensorrt"] in wanted:
            # onnxruntime prints an "EP Error" banner when TensorRT's libraries are absent.
            wanted.remove(PROVIDER_NAMES["tensorrt"])
    elif provider in PROVIDER_NAMES:
        if PROVIDER_NAMES[provider] not in built_in:
            raise ProviderUnavailableError(provider, built_in, "not built into this onnxruntime")
        wanted = list(dict.fromkeys([PROVIDER_NAMES[provider], PROVIDER_NAMES["cpu"]]))
    else:
        raise ModelError(f"unknown provider {provider!r}; expected auto, "
                         f"{', '.join(PROVIDER_NAMES)}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if allow_spinning else "0")
    if provider == "auto":
        # Absent GPU libraries are expected in auto mode; we log the outcome ourselves.
        options.log_severity_level = _ORT_LOG_FATAL_ONLY
        ort.set_default_logger_severity(_ORT_LOG_FATAL_ONLY)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load model {path.name}: {exc}") from exc
    finally:
        ort.set_default_logger_severity(2)
    active = session.get_providers()
    running = short_provider_name(active[0])
    if provider not in ("auto", running):
        raise ProviderUnavailableError(
            provider, [short_provider_name(p) for p in active], "it failed to load"
        )
    if provider == "auto" and wanted[0] != active[0]:
        log.info("GPU execution providers did not load; running %s on %s", path.name, running)
    return session, running
