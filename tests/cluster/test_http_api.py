"""The HTTP inference endpoint on real Serve, with real images and every bad-input case."""

import io
import time
import uuid
from pathlib import Path

import pytest
import ray
import requests
from PIL import Image

from tests.conftest import assert_no_traceback
from tests.images import ASTRONAUT_PERSON_BOX, astronaut_rgb, encode, iou

pytestmark = pytest.mark.cluster

JPEG = encode(astronaut_rgb(), ".jpg")
PNG = encode(astronaut_rgb(), ".png")


def _post(url, data=b"", ctype="image/jpeg", **kw):
    return requests.post(f"{url}/v1/detect", data=data, headers={"content-type": ctype},
                         timeout=60, **kw)


def _check_astronaut(body):
    assert body["model"] == "ssdlite-mobilenetv2-person"
    assert body["provider"] in ("cpu", "cuda", "tensorrt")
    assert (body["width"], body["height"]) == (512, 512)
    [det] = body["detections"]
    assert det["label"] == "person" and det["score"] > 0.5
    assert iou(det["box"], ASTRONAUT_PERSON_BOX) > 0.5


def test_raw_jpeg(serve_app):
    r = _post(serve_app["url"], JPEG)
    assert r.status_code == 200, r.text
    _check_astronaut(r.json())
    assert r.json()["inference_ms"] > 0


def test_multipart_png_with_query(serve_app):
    r = requests.post(f"{serve_app['url']}/v1/detect?threshold=0.3&classes=person",
                      files={"image": ("a.png", PNG, "image/png")}, timeout=60)
    assert r.status_code == 200, r.text
    _check_astronaut(r.json())


def test_the_whole_image_finds_the_same_person_as_the_tiles(serve_app):
    r = _post(serve_app["url"], JPEG, params={"tiling": "off"})
    assert r.status_code == 200, r.text
    _check_astronaut(r.json())


def test_a_one_pixel_image_is_detected_whole(serve_app):
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (90, 90, 90)).save(buf, "PNG")
    r = _post(serve_app["url"], buf.getvalue(), "image/png")
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"], r.json()["detections"]) == (1, 1, [])


def test_threshold_filters(serve_app):
    r = _post(f"{serve_app['url']}", JPEG, params={"threshold": 0.999})
    assert r.status_code == 200 and r.json()["detections"] == []


def _big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8200, 8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("kind", "data", "ctype", "status", "message"),
    [
        ("empty", b"", "image/jpeg", 400, "the request body is empty"),
        ("not an image", b"GIF89a? no, just text", "image/png", 400, "not a decodable JPEG or PNG"),
        ("truncated", JPEG[: len(JPEG) // 3], "image/jpeg", 400, "truncated or corrupt"),
        # a camera filling its fixed-size buffer after the cut: libjpeg decodes the zeros
        ("truncated and padded", JPEG[: len(JPEG) * 99 // 100] + bytes(4096), "image/jpeg",
         400, "the JPEG image is truncated or corrupt"),
        ("wrong type", b"hello", "text/plain", 415, "unsupported content type 'text/plain'"),
        ("no type", b"hello", "", 415, "unsupported content type"),
        ("too many pixels", _big_png(), "image/png", 413,
         "image is 8200x8 pixels; the limit is 8192"),
        ("too many bytes", b"\xff" * (25 * 1024 * 1024 + 1), "image/jpeg", 413,
         "the limit is 26214400 bytes"),
    ],
)
def test_bad_input_is_refused_and_the_server_keeps_serving(serve_app, kind, data, ctype, status,
                                                           message):
    r = _post(serve_app["url"], data, ctype)
    assert r.status_code == status, (kind, r.text)
    assert message in r.json()["error"], kind
    assert_no_traceback(r.text)
    ok = _post(serve_app["url"], JPEG)
    assert ok.status_code == 200 and len(ok.json()["detections"]) == 1


def test_multipart_without_image_field(serve_app):
    r = requests.post(f"{serve_app['url']}/v1/detect", files={"photo": ("a.jpg", JPEG)}, timeout=60)
    assert r.status_code == 400 and "no file field named 'image'" in r.json()["error"]


def test_unknown_class_and_bad_threshold(serve_app):
    r = _post(serve_app["url"], JPEG, params={"classes": "unicorn"})
    assert r.status_code == 400 and "unknown classes ['unicorn']" in r.json()["error"]
    # FastAPI's own refusals answer as every other error does: 400 and {"error": ...}
    r = _post(serve_app["url"], JPEG, params={"threshold": 3})
    assert r.status_code == 400, r.text
    assert "query parameter 'threshold'" in r.json()["error"]
    r = _post(serve_app["url"], JPEG, params={"tiling": "2x2"})
    assert r.status_code == 400 and "query parameter 'tiling'" in r.json()["error"]
    r = requests.get(f"{serve_app['url']}/v1/detect", timeout=10)
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


def test_an_unknown_class_names_the_classes_the_deployment_detects(serve_app):
    """The model knows 80 COCO labels; the deployment keeps ``person``, as /v1/models says:
    asking for a dog is refused, naming what it does detect."""
    url = serve_app["url"]
    detected = requests.get(f"{url}/v1/models", timeout=10).json()["loaded"]["classes"]
    assert detected == ["person"]
    for tiling in ("auto", "off"):
        r = _post(url, JPEG, params={"classes": "dog", "tiling": tiling})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert "unknown classes ['dog']" in error and error.endswith(f"it detects {detected}")
        assert "airplane" not in error and "80" not in error
    assert _post(url, JPEG, params={"classes": "person"}).status_code == 200


def _serve_logs() -> Path:
    return Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"  # noqa: SLF001


def _logged_since(sizes: dict[Path, int]) -> str:
    """What the Serve replicas' log files gained since ``sizes`` were taken."""
    text = []
    for path in sorted(_serve_logs().glob("replica_*.log")):
        with open(path, "rb") as f:
            f.seek(sizes.get(path, 0))
            text.append(f.read().decode(errors="replace"))
    return "".join(text)


def test_a_bad_request_is_one_warning_line_not_an_error_with_a_traceback(serve_app):
    """A client's bad input is not a server error: the detector logs one WARNING line that
    names it (Serve logged an ERROR with the replica's traceback), the HTTP side nothing."""
    url = serve_app["url"]
    sizes = {p: p.stat().st_size for p in _serve_logs().glob("replica_*.log")}
    marker = f"unicorn{uuid.uuid4().hex[:8]}"
    # untiled, the detector's call itself fails with the InputError (tiled, each tile's
    # error comes back in place of its result)
    for tiling in ("off", "auto"):
        r = _post(url, JPEG, params={"classes": marker, "tiling": tiling})
        assert r.status_code == 400 and f"unknown classes ['{marker}']" in r.json()["error"]
    assert _post(url, JPEG[: len(JPEG) // 2]).status_code == 400
    assert _post(url, b"\x89PNG garbage", "image/png").status_code == 400
    deadline = time.monotonic() + 15
    while marker not in (logged := _logged_since(sizes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = [line for line in logged.splitlines() if marker in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING"), logged
    assert f"request refused (classes): unknown classes ['{marker}']" in lines[0]
    assert "Traceback" not in logged and "ERROR" not in logged, logged


def test_a_bad_request_counts_one_error_however_it_is_tiled(serve_app):
    url = serve_app["url"]
    for tiling in ("auto", "off"):  # auto: two halves and the whole image, three frames
        before = requests.get(f"{url}/v1/detector/stats", timeout=10).json()
        r = _post(url, JPEG, params={"classes": "unicorn", "tiling": tiling})
        assert r.status_code == 400, r.text
        after = requests.get(f"{url}/v1/detector/stats", timeout=10).json()
        assert after["errors"] - before["errors"] == 1, tiling
        assert after["requests"] - before["requests"] == (3 if tiling == "auto" else 1)


def test_health_models_docs(serve_app):
    url = serve_app["url"]
    health = requests.get(f"{url}/healthz", timeout=10).json()
    assert health["ready"] is True and health["model"] == "ssdlite-mobilenetv2-person"
    models = requests.get(f"{url}/v1/models", timeout=10).json()
    assert models["loaded"]["provider"] == health["provider"]
    assert any(m["name"] == "ssdlite-mobilenetv2-person" for m in models["bundled"])
    assert requests.get(f"{url}/docs", timeout=10).status_code == 200
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert "/v1/detect" in spec["paths"]


def test_detector_stats_count_what_was_served(serve_app):
    url = serve_app["url"]
    before = requests.get(f"{url}/v1/detector/stats", timeout=10).json()
    for _ in range(3):
        assert _post(url, JPEG, params={"tiling": "off"}).status_code == 200
    whole = requests.get(f"{url}/v1/detector/stats", timeout=10).json()
    assert whole["requests"] - before["requests"] == 3
    assert _post(url, JPEG).status_code == 200  # by default: two halves and the whole image
    after = requests.get(f"{url}/v1/detector/stats", timeout=10).json()
    assert after["requests"] - whole["requests"] == 3
    assert list(after["replicas"]) == [after["replica"]]  # the fixture runs one replica
    assert after["replicas"][after["replica"]]["requests"] == after["requests"]
