"""Large images sent at once to a real HTTP API replica: it decodes at most
``http.max_concurrent_decodes`` of them at a time, so its peak memory grows with that
bound, not with the number of requests (before the bound, four 8192x8192 PNGs at once
took a replica to 2.9 GB).

The replica's peak resident memory is read from ``/proc/PID/status`` (``VmHWM``), reset
before each phase by writing 5 to ``/proc/PID/clear_refs`` (Linux).
"""

from __future__ import annotations

import io
import os
import pathlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from tests.conftest import run_api_app

pytestmark = pytest.mark.cluster

PREFIX = "/bounded"
SIDE = 6144
"""Width and height of the test images (pixels): each holds about 110 MiB as RGB."""
AT_ONCE = 4


@pytest.fixture(scope="module")
def bounded(serve_app):
    """A second app of the HttpApi deployment that decodes one image at a time."""
    import ray
    from ray import serve

    from pipeline.site_config import HttpConfig

    if not pathlib.Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/PID/clear_refs to reset a process's peak memory")
    http = HttpConfig(port=urlsplit(serve_app["url"]).port, max_concurrent_decodes=1)
    url = run_api_app(serve_app, http, "bounded", PREFIX)
    [name] = [a for a in ray.util.list_named_actors(all_namespaces=True)
              if "SERVE_REPLICA" in a["name"] and "BoundedApi" in a["name"]]
    replica = ray.get_actor(name["name"], namespace=name["namespace"])
    pid = ray.get(replica.__ray_call__.remote(lambda _self: os.getpid()), timeout=30)
    yield url, pid
    serve.delete("bounded")


def _png(seed: int) -> bytes:
    """A SIDE x SIDE PNG that compresses well (a few large flat blocks): small to send,
    full size once decoded."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    image = np.kron(blocks, np.ones((SIDE // 8, SIDE // 8, 1), dtype=np.uint8))
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _peak_growth_mib(pid: int, url: str, images: list[bytes]) -> float:
    """How far the replica's peak resident memory rose above its resident memory while
    ``images`` were detected, all sent at once (MiB)."""
    pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := current
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    before = int(status.split("VmRSS:")[1].split()[0])

    def post(body: bytes) -> int:
        return requests.post(f"{url}/v1/detect", data=body, timeout=120,
                             headers={"Content-Type": "image/png"}).status_code

    with ThreadPoolExecutor(len(images)) as pool:
        assert list(pool.map(post, images)) == [200] * len(images)
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return (int(status.split("VmHWM:")[1].split()[0]) - before) / 1024


def test_images_sent_at_once_are_decoded_one_at_a_time(bounded):
    url, pid = bounded
    images = [_png(seed) for seed in range(AT_ONCE)]
    _peak_growth_mib(pid, url, images[:1])  # warm: the model's and the tiling's buffers
    one = _peak_growth_mib(pid, url, images[:1])
    many = _peak_growth_mib(pid, url, images)
    # unbounded, four decodes at once held about four times one image's memory
    assert many < 2.0 * one, (one, many)
    assert one > SIDE * SIDE * 3 / 2**20, one  # the measure sees at least one RGB image
