"""Camera config: bounds, cross-field checks with the camera named, and no leaked passwords."""

import pytest
from pydantic import ValidationError

from pipeline.ingest.config import CameraConfig

URL = "rtsp://admin:hunter2@10.0.0.5/live?token=abc"


def test_defaults_are_a_live_tcp_camera():
    c = CameraConfig(id="door", url=URL)
    assert (c.mode, c.source.transport, c.source.kind, c.source.loop) == ("live", "tcp", "auto",
                                                                          False)
    assert (c.placement.num_cpus, c.stills.max_side, c.in_flight_limit) == (0.25, 640, 4)
    assert CameraConfig(id="door", url=URL, mode="offline").in_flight_limit == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"id": "has space"}, "id\n  String should match pattern"),
        ({"id": ""}, "id\n  String should match pattern"),
        ({"mode": "fast"}, "mode\n  Input should be 'live' or 'offline'"),
        ({"source": {"transport": "http"}},
         "source.transport\n  Input should be 'tcp' or 'udp'"),
        ({"source": {"kind": "ftp"}},
         "source.kind\n  Input should be 'auto', 'file', 'rtsp', 'http', 'usb' or 'images'"),
        ({"target_fps": 0}, "target_fps\n  Input should be greater than 0"),
        ({"inference": {"max_in_flight": 0}},
         "inference.max_in_flight\n  Input should be greater than or equal to 1"),
        ({"source": {"read_timeout_s": -1}},
         "source.read_timeout_s\n  Input should be greater than 0"),
        ({"reconnect": {"jitter": 2}}, "reconnect.jitter\n  Input should be less than or equal"),
        ({"reconnect": {"initial_s": 5, "max_s": 1}},
         r"reconnect\n  Value error, max_s \(1.0\) must be at least initial_s \(5.0\)"),
        ({"placement": {"resources": {"CPU": 1}}},
         "resource 'CPU' is managed by Ray; set num_cpus instead of CPU"),
        ({"placement": {"resources": {"site-north": 0}}},
         r"resource 'site-north': amount must be in \(0, 1e6\], got 0"),
        ({"max_in_flight": 4}, "max_in_flight\n  Extra inputs are not permitted"),
        ({"url": "  "}, "camera door: url is empty"),
        ({"url": -1}, "camera door: a device index must be >= 0, got -1"),
        ({"url": "rtsp://admin:hunter2@10.0.0.5:99999/s"},
         r"camera door: url 'rtsp://admin:\*\*\*@10.0.0.5:99999/s' needs a host and, if it "
         "names a port, a number from 1 to 65535"),
        ({"url": "rtsp://admin:hunter2@:554/s"}, "camera door: url .* needs a host"),
        ({"url": "http://admin:hunter2@[::1/s"}, "camera door: url .* needs a host"),
        ({"url": "rtsp://admin:hunter2@cam:0/s"}, "camera door: url .* needs a host"),
        ({"url": "rtsp://admin:hunter2@cam:port/s"}, "camera door: url .* needs a host"),
        ({"fps_typo": 3}, "fps_typo\n  Extra inputs are not permitted"),
    ],
)
def test_invalid_configs_name_the_field(override, message):
    with pytest.raises(ValidationError, match=message) as info:
        CameraConfig(**{"id": "door", "url": URL, **override})
    assert "hunter2" not in str(info.value)


def test_repr_str_and_public_dict_hide_the_password():
    c = CameraConfig(id="door", url=URL)
    for text in (repr(c), str(c), str(c.public_dict())):
        assert "hunter2" not in text and "abc" not in text
        assert "rtsp://admin:***@10.0.0.5/live?token=***" in text
    assert c.url == URL  # the real URL is still there for opening


def test_device_index_url():
    assert CameraConfig(id="usb", url=0).redacted_url == "0"
