"""Configuration of where alerts go: webhook and MQTT sinks, delivery retries and the
durable outbox between the rule engine and the sinks."""

from __future__ import annotations

import pathlib
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config import StrictModel
from pipeline.redact import redact_url

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""Ids of rules, sinks, sites, cameras, zones, lines and groups: also safe as MQTT topic
levels (no ``/``, ``+`` or ``#``)."""

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
"""Names of environment variables that hold secrets."""


class RetryConfig(StrictModel):
    """Exponential backoff with full jitter between failed deliveries to one sink.

    The n-th consecutive failure waits a uniformly random time in (0, min(max_s,
    initial_s * multiplier**n)]; a delivery that succeeds resets it.
    """

    initial_s: float = Field(1.0, gt=0.0, le=3600.0, description="Cap of the first wait (s).")
    max_s: float = Field(
        300.0, gt=0.0, le=86400.0, description="Cap of any wait (s); at least initial_s."
    )
    multiplier: float = Field(2.0, ge=1.0, le=10.0, description="Growth per failure.")

    @model_validator(mode="after")
    def _check(self) -> RetryConfig:
        if self.max_s < self.initial_s:
            raise ValueError(
                f"max_s ({self.max_s}) must be at least initial_s ({self.initial_s})"
            )
        return self


class WebhookSinkConfig(StrictModel):
    """HTTP POST of each alert event as JSON, signed with HMAC-SHA256 (see webhook.py)."""

    type: Literal["webhook"] = Field(description="Sink type.")
    name: str = Field(
        "webhook", pattern=ID_PATTERN,
        description="Sink name, unique among the sinks: keys its delivery cursor in the "
        "outbox and its counters.",
    )
    url: str = Field(
        min_length=1, max_length=2048,
        description="http(s) URL the events are POSTed to. Credentials in it (user:pass@, "
        "secret query values) are sent as given and masked in logs and errors.",
    )
    secret_env: str = Field(
        pattern=ENV_NAME_PATTERN,
        description="Environment variable holding the shared HMAC secret (at least 16 "
        "characters); the secret itself is never in the config file or a log.",
    )
    timeout_s: float = Field(
        10.0, gt=0.0, le=300.0,
        description="Time limit of one request, from connecting to the answer's last byte (s).",
    )
    ca_file: pathlib.Path | None = Field(
        None, description="PEM bundle of CAs trusted for an https URL; unset: the system's."
    )
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Backoff on failure.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {redact_url(value)!r}")
        return value

    @property
    def redacted_url(self) -> str:
        """The URL with its password and secret query values masked."""
        return redact_url(self.url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url if name == "url" else value)


class MqttTlsConfig(StrictModel):
    """TLS to the broker. The broker's certificate is always verified unless ``insecure``."""

    ca_file: pathlib.Path | None = Field(
        None,
        description="PEM bundle of CAs that sign the broker's certificate; unset: the system's.",
    )
    cert_file: pathlib.Path | None = Field(
        None, description="Client certificate (PEM) for brokers that require one."
    )
    key_file: pathlib.Path | None = Field(None, description="Private key of cert_file (PEM).")
    insecure: bool = Field(
        False,
        description="Skip checking that the certificate's name matches the host (the chain "
        "is still verified). For testing only.",
    )

    @model_validator(mode="after")
    def _check(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class MqttSinkConfig(StrictModel):
    """Alerts to ``<topic_prefix>/<site>/alerts/<rule_id>`` (QoS 1), live counts retained."""

    type: Literal["mqtt"] = Field(description="Sink type.")
    name: str = Field("mqtt", pattern=ID_PATTERN, description="Sink name, unique among the sinks.")
    host: str = Field(min_length=1, max_length=253, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    client_id: str | None = Field(
        None, pattern=ID_PATTERN,
        description="MQTT client id; unset: panoray-<site>-<name>. Two clients with one id "
        "disconnect each other.",
    )
    username_env: str | None = Field(
        None, pattern=ENV_NAME_PATTERN, description="Environment variable holding the user name."
    )
    password_env: str | None = Field(
        None, pattern=ENV_NAME_PATTERN, description="Environment variable holding the password."
    )
    tls: MqttTlsConfig | None = Field(None, description="TLS settings; unset: plain TCP.")
    topic_prefix: str = Field(
        "panoray", pattern=r"^[A-Za-z0-9_.\-]{1,64}(/[A-Za-z0-9_.\-]{1,64}){0,7}$",
        description="First topic levels; topics are <topic_prefix>/<site>/...",
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval (s).")
    publish_timeout_s: float = Field(
        10.0, gt=0.0, le=300.0,
        description="How long one alert waits for the broker's PUBACK before it counts as "
        "failed and is retried (s).",
    )
    reconnect_min_s: float = Field(
        1.0, gt=0.0, le=3600.0, description="First wait before reconnecting to the broker (s)."
    )
    reconnect_max_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="Longest wait between reconnect attempts (s)."
    )
    max_queued_messages: int = Field(
        1000, ge=1, le=1_000_000,
        description="Most messages the client library holds unacknowledged; past it "
        "publishes fail (and alerts wait in the outbox).",
    )
    live_counts: bool = Field(
        True, description="Publish retained live counts per zone, line and group."
    )
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Backoff on failure.")

    @model_validator(mode="after")
    def _check(self) -> MqttSinkConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"mqtt sink {self.name!r}: reconnect_max_s ({self.reconnect_max_s}) must be at "
                f"least reconnect_min_s ({self.reconnect_min_s})"
            )
        if self.password_env is not None and self.username_env is None:
            raise ValueError(f"mqtt sink {self.name!r}: password_env needs username_env")
        return self


AlertSinkConfig = Annotated[WebhookSinkConfig | MqttSinkConfig, Field(discriminator="type")]


class OutboxConfig(StrictModel):
    """The durable outbox: alerts wait here, on disk, until every sink has them."""

    path: pathlib.Path = Field(
        description="SQLite file of the outbox (created with its folder if missing). Keep "
        "it on a local disk: SQLite's locking is unreliable on network file systems."
    )
    retention_s: float = Field(
        7 * 86400.0, ge=0.0, le=365 * 86400.0,
        description="Events every sink has are kept this long (wall seconds), then deleted.",
    )
    max_rows: int = Field(
        100_000, ge=10, le=10_000_000,
        description="Most events kept. Past it delivered events go first, then the oldest "
        "undelivered ones are dropped for the sinks still lacking them (counted as "
        "`dropped` and logged as a warning): a sink down for good cannot fill the disk.",
    )
    prune_interval_s: float = Field(
        60.0, gt=0.0, le=86400.0,
        description="How often adding events also deletes those past retention (wall s).",
    )
    busy_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0,
        description="How long a write waits for another process's lock on the file (s).",
    )
