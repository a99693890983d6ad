"""YAML config errors name the key path and the line."""

import pytest
from pydantic import Field, field_validator

from pipeline.config import StrictModel, format_path, load_config
from pipeline.errors import ConfigFileError


class Zone(StrictModel):
    points: list[tuple[float, float]]

    @field_validator("points")
    @classmethod
    def _three(cls, v):
        if len(v) < 3:
            raise ValueError("a polygon needs at least 3 points")
        return v


class Camera(StrictModel):
    id: str
    zones: dict[str, Zone] = {}


class Root(StrictModel):
    cameras: list[Camera] = []
    threshold: float = Field(0.5, ge=0, le=1)


GOOD = """
cameras:
  - id: a
  - id: b
    zones:
      entrance:
        points: [[0, 0], [1, 0], [1, 1]]
"""


def test_good_config_loads():
    cfg = load_config(GOOD, Root)
    assert cfg.cameras[1].zones["entrance"].points[2] == (1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cameras:\n  - id: a\n  - id: b\n  - id: c\n    zones:\n      entrance:\n"
            "        points: [[0, 0], [1, 1]]\n",
            "cameras[2].zones.entrance.points (line 7): a polygon needs at least 3 points",
        ),
        ("threshold: 2\n", "threshold (line 1): Input should be less than or equal to 1"),
        ("cameras:\n  - id: a\n    zonez: {}\n", "cameras[0].zonez (line 3): unknown key"),
        ("cameras:\n  - zones: {}\n", "cameras[0].id (line 2): Field required"),
        ("cameras: [\n", "invalid YAML"),
        ("- 1\n- 2\n", "expected a mapping at the top, got list"),
    ],
)
def test_errors_carry_key_path_and_line(text, expected):
    with pytest.raises(ConfigFileError) as info:
        load_config(text, Root, "site.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("site.yaml: ")


def test_every_problem_is_reported():
    with pytest.raises(ConfigFileError) as info:
        load_config("threshold: -1\ncameras:\n  - {}\n", Root)
    assert len(info.value.issues) == 2


def test_format_path():
    assert format_path(("cameras", 2, "zones", "a")) == "cameras[2].zones.a"


def test_a_file_that_is_not_text_names_the_file_and_the_byte(tmp_path):
    from pipeline.config import load_config_file

    path = tmp_path / "site.yaml"
    path.write_bytes(b"cameras: \xce\x00")
    with pytest.raises(ConfigFileError) as info:
        load_config_file(path, Root)
    assert str(info.value).startswith(str(path))
    assert "not UTF-8 text (byte 0xce at offset 9)" in str(info.value)
