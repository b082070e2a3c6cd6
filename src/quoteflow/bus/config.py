"""How the bus is set up: partitions, capacity, and the Kafka client"s settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from quoteflow.config import Section

__all__ = ["BusSettings"]


class BusSettings(Section):
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
