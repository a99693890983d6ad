"""The Ray and Ray Serve settings panoray runs with.

Ray Serve reads its variables when ``ray.serve`` is first imported, in every process (the
driver, camera actors calling the detector, the replicas), so the entry points set them
with :func:`apply_ray_env` before Ray starts or ``ray.serve`` is imported: workers of a
local cluster inherit them from the driver. A cluster started with ``ray start`` gets them
from cluster.yaml. A variable already set in the environment wins. Importing panoray's
packages changes nothing.

Measured with ``benchmarks/detector.py --quick`` on 2 cores, 8 concurrent callers through a
DeploymentHandle: 54 images/s with Serve's defaults, 70 with gRPC between deployments, 83
with both settings (bare ONNX Runtime: 98).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence


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
    # Serve's controller reconciles every 0.5 s instead of 0.1 s, and replicas and handles
    # export their cached metrics every 1 s instead of 0.1 s. panoray's deployments have
    # a fixed replica count (or autoscale on a scale of seconds), so nothing waits on
    # either; on 2 cores an idle panoray serve then takes 8.8 % of a core instead of
    # 12.2 % (the controller 1.5 % instead of 3.1 %), and the controller's share per
    # analysed frame falls from 0.4-0.7 to 0.15-0.25 CPU-ms with 8 offline cameras.
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
}


TASK_EVENTS_KEPT = 10_000
"""Ray keeps the events of at most this many tasks (actor calls) for its state API and
dashboard; its default, 100,000, grows Ray's own memory by some 300 MB over the first
20 minutes of a 2-camera live run (each frame is a few actor calls), which reads as a leak
in a soak. At 10,000, `ray list tasks` still shows the last minutes of calls."""

SYSTEM_CONFIG = {"automatic_object_spilling_enabled": False,
                 "task_events_max_num_task_in_gcs": TASK_EVENTS_KEPT}
"""Ray system config of a local instance: objects (frames among them) never go to disk,
and the task-event store is bounded (:data:`TASK_EVENTS_KEPT`)."""


def apply_ray_env() -> None:
    """Sets each variable of :data:`SERVE_ENV`, and ``RAY_USAGE_STATS_ENABLED=0``, unless
    the environment already has it. ``RAY_AUTH_MODE`` is left as the caller set it (Ray
    2.60 clusters started with ``ray start`` use token auth)."""
    for name, value in {**SERVE_ENV, "RAY_USAGE_STATS_ENABLED": "0"}.items():
        os.environ.setdefault(name, value)


def ray_start_command(args: Sequence[str]) -> list[str]:
    """``ray start`` with ``args``, run by this Python, with panoray's settings: the
    caller's environment carries :data:`SERVE_ENV` (:func:`apply_ray_env`), and a head
    (``--head``) gets :data:`SYSTEM_CONFIG` unless ``args`` give ``--system-config``.

    Example:
        >>> ray_start_command(["--head"])[-2:]
        ['--head', '--system-config={"automatic_object_spilling_enabled": false, \
"task_events_max_num_task_in_gcs": 10000}']
    """
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", *args]
    given = any(a == "--system-config" or a.startswith("--system-config=") for a in args)
    if "--head" in args and not given:
        command.append(f"--system-config={json.dumps(SYSTEM_CONFIG)}")
    return command
