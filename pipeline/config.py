"""Configuration plumbing: the strict base model and YAML loading with key paths and lines.

Config models forbid unknown keys, so that a typo is an error rather than a silently
ignored setting, and are immutable. Each stage declares its own config beside its code
(:mod:`models.config`, :mod:`pipeline.tracking.config`, :mod:`pipeline.analytics.config`,
:mod:`pipeline.ingest.config`, :mod:`pipeline.sinks`); :mod:`pipeline.site_config`
composes them into one deployment file.

A pydantic error location such as ``("cameras", 2, "zones", "entrance", "points")`` is
mapped back to the YAML node it came from, so the message reads
``cameras[2].zones.entrance.points (line 14): a polygon needs at least 3 points``.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import ConfigFileError


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, so are NaN and infinite numbers
    (YAML's ``.nan`` and ``.inf``); instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file.

    Attributes:
        path: key path such as ``cameras[2].zones.entrance.points``.
        line: 1-based line in the file, or None when the key is absent from it.
        message: what is wrong.
    """

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path or "(top level)"
        return f"{where}: {self.message}"


def format_path(loc: tuple[Any, ...]) -> str:
    """``("cameras", 2, "zones")`` -> ``cameras[2].zones``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line of the deepest YAML node along ``loc`` (1-based)."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key.start_mark.line + 1 if key is not None else best
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return best
            node = node.value[part]
        else:
            return best
        best = node.start_mark.line + 1
    return best


def line_in(text: str | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of key path ``loc`` in the YAML ``text`` (its deepest part there);
    None without text or when it does not parse."""
    if text is None:
        return None
    try:
        return _line_of(yaml.compose(text, Loader=yaml.SafeLoader), loc)
    except yaml.YAMLError:
        return None


def _clean_message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        msg = "unknown key (not part of the schema; check its spelling)"
    return msg


def _pydantic_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drops discriminator tags pydantic puts into locations of tagged unions."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML would keep
    the last one silently: ``url`` written twice runs the second camera URL)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the constructor refuses it itself
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {first})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)  # type: ignore[no-untyped-call,no-any-return]


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong in a YAML syntax error, without the snippet of the file PyYAML's own
    message quotes (that line may hold a camera password or the API token)."""
    context = getattr(exc, "context", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return f"invalid YAML: {f'{context}: ' if context else ''}{problem}{column}"


def load_config(text: str, model: type[M], source: str = "<config>") -> M:
    """Parses YAML ``text`` and validates it as ``model``.

    Raises:
        ConfigFileError: with one ConfigIssue per problem (YAML syntax or schema).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigFileError(source, [ConfigIssue("", line, yaml_problem(exc))]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            source,
            [ConfigIssue("", 1, f"expected a mapping at the top, got {type(data).__name__}")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = _pydantic_loc(tuple(err["loc"]))
            issues.append(ConfigIssue(format_path(loc), _line_of(node, loc), _clean_message(err)))
        raise ConfigFileError(source, issues) from None


def load_config_file(path: str | pathlib.Path, model: type[M]) -> M:
    """Reads and validates the YAML file at ``path`` (see :func:`load_config`)."""
    p = pathlib.Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigFileError(
            str(p), [ConfigIssue("", None, f"cannot read: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(str(p), [ConfigIssue(
            "", None, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): a deployment file is YAML")]) from None
    return load_config(text, model, str(p))


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as ``path: message`` parts, never echoing the input (which may
    hold a camera password)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


