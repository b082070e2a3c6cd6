"""Configuration: one TOML file plus environment overrides.

Where the file is: the ``--config`` option, else ``$QUOTEFLOW_CONFIG``, else
``quoteflow.toml`` in the working directory if it exists; no file is fine.
Environment variables override the file: ``QUOTEFLOW_<SECTION>__<KEY>``, for
example ``QUOTEFLOW_BUS__PARTITIONS=8`` or ``QUOTEFLOW_ALPACA__SECRET_KEY=...``.

Secrets (API keys, passwords) are :class:`pydantic.SecretStr`: they print as
``**********`` and are never logged. A config file that holds a secret must
not be readable by group or others (``chmod 600``); quoteflow refuses it
otherwise. Prefer the environment for secrets.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from quoteflow.errors import ConfigError

if TYPE_CHECKING:
    from quoteflow.feeds.connection import ConnectionPolicy

__all__ = [
    "AlertSettings",
    "AlpacaSettings",
    "BusSettings",
    "DeribitSettings",
    "EnrichSettings",
    "ExchangeSettings",
    "GatewaySettings",
    "IgSettings",
    "Settings",
    "SyntheticSettings",
    "load_settings",
    "masked",
    "to_toml",
]

DEFAULT_FILE = Path("quoteflow.toml")
MASK = "**********"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusSettings(_Section):
    """The bus: partitions per Kafka topic; records per partition before backpressure (embedded).

    The embedded bus has one partition per topic: one process reads them all.

    The Kafka settings: the session timeout of consumer groups, which topics get a
    JSON copy for customers, and how clients authenticate (SASL PLAIN or
    SCRAM, TLS with a CA file and an optional client certificate). Passwords are
    secrets: masked in ``config show`` and never logged.
    """

    partitions: int = Field(4, ge=1, le=1024)
    capacity: int = Field(10_000, ge=1)
    session_timeout_ms: int = Field(
        45_000, ge=1_000, description="Kafka consumer group session timeout"
    )
    fetch_wait_ms: int = Field(
        100, ge=1, le=60_000, description="longest a Kafka fetch waits for new records"
    )
    linger_ms: int = Field(
        1, ge=0, le=10_000, description="how long a Kafka producer waits to fill a batch"
    )
    commit_interval_ms: int = Field(
        100,
        ge=1,
        le=600_000,
        description="how often a Kafka stage in idempotent mode stores its state and commits "
        "its inputs; a crash repeats up to this much output, which readers drop",
    )
    stage_commit: Literal["transaction", "idempotent"] = Field(
        "transaction",
        description="how Kafka stages commit a round: a transaction per partition, or "
        "outputs first and then the state snapshot, readers dropping repeats",
    )
    customer_topics: list[str] = Field(
        ["quotes.enriched", "trades.enriched", "bars.*", "alerts"],
        description="topics (or patterns) that also get a reference-JSON copy customer.<topic>",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: str | None = Field(None, description="CA certificates (PEM) to trust")
    ssl_cert_file: str | None = Field(None, description="client certificate (PEM) for mTLS")
    ssl_key_file: str | None = Field(None, description="client private key (PEM) for mTLS")
    ssl_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _security_is_complete(self) -> BusSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        if not sasl and self.sasl_mechanism:
            raise ValueError("sasl_mechanism needs security_protocol SASL_SSL or SASL_PLAINTEXT")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("ssl_cert_file and ssl_key_file go together (client certificate)")
        return self

    def kafka_client(self) -> dict[str, str]:
        """Return the librdkafka settings for security (secrets in clear: pass them on only)."""
        settings = {"security.protocol": self.security_protocol}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password and self.sasl_password.get_secret_value(),
            "ssl.ca.location": self.ssl_ca_file,
            "ssl.certificate.location": self.ssl_cert_file,
            "ssl.key.location": self.ssl_key_file,
            "ssl.key.password": self.ssl_key_password and self.ssl_key_password.get_secret_value(),
        }
        settings.update({key: value for key, value in optional.items() if value})
        return settings


class SyntheticSettings(_Section):
    """The synthetic feed (see :mod:`quoteflow.feeds.synthetic` for the model)."""

    instruments: int = Field(10, ge=1, le=1000)
    rate_per_s: float = Field(5.0, gt=0, description="quote updates per instrument per second")
    trade_probability: float = Field(0.2, ge=0, le=1)
    annual_volatility: float = Field(0.3, ge=0)
    seed: int = 7
    calendar: str = "XNYS"


class AlertSettings(_Section):
    """Alert rules of the enrichment job; a rule set to ``false`` (or with no settings) is off."""

    sma_cross: tuple[int, int] | None = Field(
        (20, 50), description="fast, slow SMA periods; false: off"
    )
    rsi_period: int | None = Field(14, ge=2, description="RSI periods; false: off")
    rsi_oversold: float = Field(30.0, ge=0, le=100)
    rsi_overbought: float = Field(70.0, ge=0, le=100)
    volume_spike_factor: float | None = Field(
        3.0, gt=0, description="volume over its average that alerts; false: off"
    )
    volume_window: int = Field(20, ge=1, description="bars in the volume average")
    levels: dict[str, list[float]] = Field(
        default_factory=dict, description="price levels per instrument"
    )
    session_extremes: bool = True
    move_changes: bool = True

    @field_validator("sma_cross", "rsi_period", "volume_spike_factor", mode="before")
    @classmethod
    def _false_is_off(cls, value: Any, info: ValidationInfo) -> Any:
        """Read ``false`` as off (TOML has no null); name what a cross needs."""
        if value is False:
            return None
        if info.field_name == "sma_cross" and isinstance(value, list | tuple) and len(value) != 2:
            raise PydanticCustomError(
                "sma_cross", "give two SMA periods, fast and slow (e.g. [20, 50]), or false for off"
            )
        return value


class EnrichSettings(_Section):
    """The enrichment job: candle period, the previous-close move and indicators."""

    period: str = "1m"
    every: str | None = Field(None, description="hopping windows: a bar of period every ...")
    price: Literal["trade", "mid"] = "trade"
    threshold_pct: float = Field(5.0, gt=0, description="move size for Bullish/Bearish")
    thresholds_pct: dict[str, float] = Field(
        default_factory=dict, description="per-instrument override of threshold_pct"
    )
    indicators: str = "sma:20,sma:50,rsi:14"
    allowed_lateness_ms: int = Field(0, ge=0)
    correction_horizon_s: float = Field(
        3600.0, gt=0, description="trades kept (event time) to apply corrections and cancels"
    )
    calendar: str = "XNYS"
    previous_closes: str | None = Field(
        None, description="daily bars file, OHLCV CSV, or a lake root (directory or s3://)"
    )
    alerts: AlertSettings = AlertSettings()


class LakeSettings(_Section):
    """The data lake: where it is and how raw chunks are cut."""

    root: str = Field("lake", description="directory or s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, ...)")
    chunk_rows: int = Field(100_000, ge=1, description="flush a chunk at this many records")
    chunk_age_s: float = Field(60.0, gt=0, description="... or when its oldest waited this long")
    retention_days: int = Field(30, ge=1, description="raw chunks kept after refining")
    dead_letter_retention_days: int | None = Field(
        None, ge=1, description="dead letters kept this long by lake expire (unset: for ever)"
    )
    coalesce_threads: int = Field(
        2, ge=1, description="instrument-days coalesced at once (each holds its day in memory)"
    )


class _LiveFeedSection(_Section):
    """How a live feed watches and re-opens its connection (see ConnectionPolicy)."""

    heartbeat_s: float | None = Field(
        15.0, gt=0, description="WebSocket ping interval; no pong within half drops it"
    )
    idle_timeout_s: float | None = Field(
        None, gt=0, description="no frame for this long drops the connection (none: wait)"
    )
    open_timeout_s: float = Field(10.0, gt=0, description="connect, log in and subscribe within")
    reconnect_initial_s: float = Field(0.5, gt=0, description="first reconnect delay cap")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest reconnect delay cap")

    def policy(self) -> ConnectionPolicy:
        """Return the connection policy these settings describe."""
        from quoteflow.feeds.connection import ConnectionPolicy

        return ConnectionPolicy(
            heartbeat_s=self.heartbeat_s,
            idle_timeout_s=self.idle_timeout_s,
            open_timeout_s=self.open_timeout_s,
            reconnect_initial_s=self.reconnect_initial_s,
            reconnect_max_s=self.reconnect_max_s,
        )


class AlpacaSettings(_LiveFeedSection):
    """Alpaca market data: API key pair, feed, and the endpoints (override for a local server)."""

    key_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    feed: Literal["iex", "sip"] = "iex"
    crypto_location: str = Field("us", pattern=r"^[a-z0-9-]+$")
    stream_url: str = "wss://stream.data.alpaca.markets"
    rest_url: str = "https://data.alpaca.markets"


class DeribitSettings(_LiveFeedSection):
    """Deribit: endpoints, and API credentials (public market data needs none)."""

    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    stream_url: str = "wss://www.deribit.com/ws/api/v2"
    rest_url: str = "https://www.deribit.com/api/v2"
    heartbeat_interval_s: int = Field(
        10, ge=10, description="Deribit test_request interval (public/set_heartbeat, >= 10)"
    )


class IgSettings(_LiveFeedSection):
    """IG REST login and Lightstreamer streaming."""

    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    account_type: Literal["demo", "live"] = "demo"
    rest_url: str | None = Field(
        None, description="default: https://demo-api.ig.com/gateway/deal (or api.ig.com for live)"
    )
    keepalive_ms: int = Field(
        5_000, ge=1_000, description="Lightstreamer keepalive (PROBE) interval to ask for"
    )

    def api_url(self) -> str:
        """Return the REST base URL: ``rest_url`` if set, else IG's for the account type."""
        if self.rest_url:
            return self.rest_url.rstrip("/")
        host = "demo-api.ig.com" if self.account_type == "demo" else "api.ig.com"
        return f"https://{host}/gateway/deal"


class GatewaySettings(_Section):
    """Delivery to subscribers: address, TLS, keys, audit log, replay window, queues."""

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8765, ge=0, le=65535, description="port to listen on (0: any free one)")
    tls_certfile: str | None = Field(None, description="PEM certificate (chain): serve wss/https")
    tls_keyfile: str | None = Field(None, description="PEM private key of the certificate")
    keys_db: str = Field("quoteflow-keys.db", description="SQLite file of the API keys (0600)")
    audit_log: str | None = Field(
        "quoteflow-audit.jsonl", description="JSON-lines audit log (0600); none: no log"
    )
    replay_window: int = Field(100_000, ge=1, description="records kept in memory per channel")
    journal: bool = Field(True, description="keep records leaving the window in the lake")
    send_queue: int = Field(10_000, ge=1, description="records queued per connection at most")
    send_buffer_bytes: int | None = Field(
        None, ge=4096, description="kernel send buffer per connection (none: the OS default)"
    )
    auth_timeout_s: float = Field(5.0, gt=0, description="time to send the auth request")

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self


class ExchangeSettings(_Section):
    """The exchange: listed instruments, the durable command store, where the API listens."""

    instruments: str | None = Field(
        None, description="TOML or CSV reference data (unset: the sample listing, all 24/7)"
    )
    db: str = Field("quoteflow-exchange.db", description="SQLite command store (0600)")
    fsync: bool = Field(
        False, description="answer only once the log is on disk (grouped flushes): power-loss safe"
    )
    host: str = Field("127.0.0.1", description="address of the order entry API")
    port: int = Field(8766, ge=0, le=65535, description="port of the order entry API")
    expiry_check_s: float = Field(0.5, gt=0, description="how often DAY/GTD expiries are checked")
    stats_window: str = Field("10m", pattern=r"^[1-9][0-9]*[smh]$",
                              description="trade analytics: window length")  # fmt: skip
    stats_every: str = Field("5m", pattern=r"^[1-9][0-9]*[smh]$",
                             description="trade analytics: a new window every")  # fmt: skip
    stats_lateness_ms: int = Field(1_000, ge=0, description="trade analytics: allowed lateness")


class Settings(BaseSettings):
    """Everything quoteflow can be configured with, by section."""

    model_config = SettingsConfigDict(
        env_prefix="QUOTEFLOW_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    bus: BusSettings = BusSettings()
    synthetic: SyntheticSettings = SyntheticSettings()
    enrich: EnrichSettings = EnrichSettings()
    lake: LakeSettings = LakeSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    deribit: DeribitSettings = DeribitSettings()
    ig: IgSettings = IgSettings()
    gateway: GatewaySettings = GatewaySettings()
    exchange: ExchangeSettings = ExchangeSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Take arguments first, then the environment, then the TOML file, if any."""
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def _find_file(path: str | Path | None) -> Path | None:
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return chosen
    from_env = os.environ.get("QUOTEFLOW_CONFIG")
    if from_env:
        return _find_file(from_env)
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def _holds_secret(value: Any, key: str = "") -> bool:
    if isinstance(value, dict):
        return any(_holds_secret(v, k) for k, v in value.items())
    return bool(value) and key in _SECRET_KEYS


_SECRET_KEYS = {
    name
    for section in (AlpacaSettings, DeribitSettings, IgSettings, BusSettings)
    for name, field in section.model_fields.items()
    if field.annotation == SecretStr | None
}


def _check_file(path: Path) -> None:
    try:
        content = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if _holds_secret(content) and mode & 0o077:
        raise ConfigError(
            f"config file {path} holds secrets but is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )


def load_settings(path: str | Path | None = None) -> Settings:
    """Load the effective settings: environment over the TOML file over defaults.

    Raises :class:`~quoteflow.errors.ConfigError` for a missing or unreadable
    file, a file with secrets readable by others, or invalid values (the message
    lists each bad key).
    """
    toml_file = _find_file(path)
    if toml_file is not None:
        _check_file(toml_file)
    from_file = type(
        "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": toml_file}}
    )
    try:
        return from_file()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def masked(settings: Settings) -> dict[str, Any]:
    """Return the settings as plain data with every secret replaced by a mask."""

    def mask(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return MASK if value.get_secret_value() else ""
        if isinstance(value, BaseModel):
            return {name: mask(getattr(value, name)) for name in type(value).model_fields}
        if isinstance(value, Path):
            return str(value)
        return value

    return mask(settings)


def _toml_value(value: Any) -> str:
    """Return ``value`` as a TOML value: JSON strings and numbers are TOML too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }" if value else "{}"
    return json.dumps(value)


def _toml_sections(
    name: str, section: BaseModel, values: dict[str, Any], commented: bool
) -> list[str]:
    """Return the TOML lines of a section; unset options (all, if ``commented``) are comments."""
    lines = [f"[{name}]"]
    if commented:
        doc = (type(section).__doc__ or "").strip().splitlines()[0]
        lines.insert(0, f"# {doc}")
    nested = []
    for key, field in type(section).model_fields.items():
        value = values[key]
        if isinstance(value, dict) and isinstance(getattr(section, key), BaseModel):
            nested += ["", *_toml_sections(f"{name}.{key}", getattr(section, key), value,
                                           commented)]  # fmt: skip
            continue
        if commented and field.description:
            lines.append(f"# {key}: {field.description}")
        if value is None and field.default is not None:
            lines.append(f"{'# ' if commented else ''}{key} = false")  # a rule switched off
        elif value is None:
            lines.append(f"# {key} = (unset)")
        elif value == MASK:
            lines.append(f"# {key} = (a secret: set, not shown)")
        else:
            lines.append(f"{'# ' if commented else ''}{key} = {_toml_value(value)}")
    return lines + nested


def to_toml(settings: Settings, *, commented: bool = False) -> str:
    """Return the settings as a TOML file that ``--config`` reads back, secrets masked.

    Options without a value are comments. With ``commented`` every option is a
    comment showing its value and meaning: a sample file to edit.
    """
    values = masked(settings)
    lines: list[str] = []
    for name in type(settings).model_fields:
        lines += ["", *_toml_sections(name, getattr(settings, name), values[name], commented)]
    return "\n".join(lines[1:]) + "\n"
