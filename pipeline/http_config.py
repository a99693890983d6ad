"""The HTTP endpoint's config (``http:`` in the site YAML): where it listens, its API
tokens, which hosts and origins it answers, and the media folders uploads may name.

Example:
    >>> HttpConfig().host
    '127.0.0.1'
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import re

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from pipeline.config import StrictModel
from pipeline.errors import ConfigError

MIN_TOKEN_CHARS = 16
"""Shortest accepted API token (``secrets.token_urlsafe(32)`` makes a good one)."""


class HttpConfig(StrictModel):
    """The HTTP endpoint: inference, and under ``panoray run`` the runtime camera API."""

    # Validation errors would otherwise echo the input, token included.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    max_body_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="Largest accepted request body (bytes)."
    )
    max_image_side: int = Field(
        8192, ge=16, le=65536, description="Largest accepted image width or height (pixels)."
    )
    max_concurrent_decodes: int = Field(
        2, ge=1, le=64,
        description="Images an API replica decodes at once; more requests wait their turn. "
        "A decoded image holds several bytes per pixel more than once while it is decoded "
        "and resized (an 8192x8192 PNG about 0.7 GB), so this bounds the replica's memory; "
        "decoding is CPU-bound, so more than the replica's cores gains nothing.",
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Longest an inference request may wait for the detector (s)."
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token that endpoints which change state (adding and removing "
        "cameras) require. Prefer `token_env`: a token written here is a secret in a file. "
        f"At least {MIN_TOKEN_CHARS} characters.",
    )
    token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="Name of an environment variable holding the token (for example "
        "`PANORAY_API_TOKEN`), read where `panoray run` starts.",
    )
    protect_reads: bool = Field(
        False,
        description="Require the token for the read endpoints too (camera list, camera "
        "health, live counts), not only for those that change state.",
    )
    media_roots: tuple[pathlib.Path, ...] = Field(
        (), max_length=64,
        description="Directories whose files cameras added through the API may read (after "
        "resolving symlinks and `..`, checked on every file opened). Empty: API-added "
        "cameras must use network URLs (rtsp, rtsps, http, https). Cameras in the config "
        "file are not restricted. The file system root is refused.",
    )
    allowed_hosts: tuple[str, ...] = Field(
        ("*",), max_length=256,
        description="Hosts that cameras added through the API may connect to: IP networks "
        "(`10.20.0.0/16`, `192.0.2.7`), host names (`cam1.site`) or name patterns "
        "(`*.cams.site`); `*` is any host. Loopback and link-local addresses (this machine, "
        "cloud metadata services) are refused unless a network listed here is itself "
        "loopback or link-local (`127.0.0.1/32`). Host names must resolve when the camera "
        "is added, and every address they resolve to must be allowed. Cameras in the "
        "config file are not restricted.",
    )
    allowed_host_headers: tuple[str, ...] = Field(
        (), max_length=64,
        description="On a loopback address, requests must name this machine in their Host "
        "header (`localhost`, a loopback IP, `host`), so that a web page cannot reach the "
        "API by rebinding its own domain to 127.0.0.1; list here the other names it is "
        "reached by (a local reverse proxy's).",
    )

    @field_validator("media_roots")
    @classmethod
    def _check_roots(cls, roots: tuple[pathlib.Path, ...]) -> tuple[pathlib.Path, ...]:
        for i, root in enumerate(roots):
            check_media_root(root, f"media_roots[{i}]")
        return roots

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for i, host in enumerate(hosts):
            if not _HOST_ENTRY.match(host):
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError:
                    raise ValueError(f"allowed_hosts[{i}]: {host!r} is neither an IP network nor "
                                     "a host name pattern (`cam.site`, `*.site`, `*`)") from None
        return hosts

    @model_validator(mode="after")
    def _check_token(self) -> HttpConfig:
        if self.token is not None and self.token_env is not None:
            raise ValueError("set either token or token_env, not both")
        if self.token is not None:
            _check_token_strength(self.token.get_secret_value(), "token")
        return self

    @property
    def loopback(self) -> bool:
        """True when ``host`` is a loopback address (only this machine can connect)."""
        return is_loopback(self.host)

    def resolve_token(self) -> SecretStr | None:
        """The configured token: ``token``, or the value of the variable ``token_env``.

        Raises:
            ConfigError: ``token_env`` names a variable that is unset or empty, or whose
                value is too short.
        """
        if self.token is not None:
            return self.token
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"environment variable {self.token_env} is not set or empty; it must hold "
                "the API token", "http.token_env",
            )
        _check_token_strength(value, f"the token in ${self.token_env}", "http.token_env")
        return SecretStr(value)

    def with_resolved_token(self) -> HttpConfig:
        """A copy holding the token itself (``token_env`` read here, then cleared), for
        processes that do not share this one's environment (the Serve replica)."""
        return self.model_copy(update={"token": self.resolve_token(), "token_env": None})

    def check_exposure(self) -> None:
        """Refuses to expose the state-changing runtime API beyond this machine without a
        token (called by ``panoray run`` before anything starts).

        Raises:
            ConfigError: ``host`` is not a loopback address and no token is configured,
                or ``token_env`` cannot be read.
        """
        if self.resolve_token() is None and not self.loopback:
            raise ConfigError(
                f"the runtime API would listen on {self.host!r}, which is not a loopback "
                "address, without a token: anyone who can reach it could add and remove "
                "cameras. Set http.token_env (or http.token), or bind 127.0.0.1",
                "http.host",
            )


_HOST_ENTRY = re.compile(r"^(\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$")


def check_media_root(root: pathlib.Path, path: str) -> None:
    """Refuses (ValueError) a media root that is the file system root."""
    if root.is_absolute() and pathlib.Path(os.path.realpath(root)) == pathlib.Path(root.anchor):
        raise ValueError(f"{path}: {str(root)!r} is the file system root: cameras added "
                         "through the API could read every file the server can; name the "
                         "folder that holds the media")


def _check_token_strength(value: str, what: str, path: str = "") -> None:
    message = ""
    if len(value) < MIN_TOKEN_CHARS:
        message = (
            f"{what} is {len(value)} characters; use at least {MIN_TOKEN_CHARS} (for example "
            "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    elif not value.isprintable() or any(c.isspace() for c in value):
        message = f"{what} holds white space or control characters; use printable characters only"
    if message:
        if path:
            raise ConfigError(message, path)
        raise ValueError(message)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything
