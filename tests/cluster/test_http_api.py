"""The HTTP inference endpoint on real Serve, with real images and every bad-input case."""

import io

import pytest
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
