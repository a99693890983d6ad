"""Ray Serve settings panoray runs with, applied as environment defaults.

Ray Serve reads these when ``ray.serve`` is first imported, in every process (the driver,
camera actors calling the detector, the replicas), so they are set when panoray's packages
are imported, before Ray starts: workers of a local cluster inherit them from the driver.
A cluster started with ``ray start`` gets them from cluster.yaml. A variable already set
in the environment wins.

Measured with ``benchmarks/detector.py --quick`` on 2 cores, 8 concurrent callers through a
DeploymentHandle: 54 images/s with Serve's defaults, 70 with gRPC between deployments, 83
with both settings (bare ONNX Runtime: 98).
"""

from __future__ import annotations

import os

SERVE_ENV = {
    # Handle calls travel over gRPC instead of Ray actor calls: less overhead per request.
    "RAY_SERVE_USE_GRPC_BY_DEFAULT": "1",
    # Replica code runs on the replica's own event loop, not a second thread's; panoray's
    # deployments keep blocking work (model runs, image decoding) off the loop.
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    # A replica's gRPC server takes messages of up to 256 MiB instead of gRPC's 4 MiB: a
    # camera's group of waiting frames (up to 32 frames or tiles, 270 KB each at 300x300,
    # 1.2 MB at 640x640) is one message.
    "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(256 * 2**20),
}


def apply() -> None:
    """Sets each variable of :data:`SERVE_ENV` unless the environment already has it."""
    for name, value in SERVE_ENV.items():
        os.environ.setdefault(name, value)
