"""How the gateway is set up: address, TLS, keys, audit log, replay window, queues."""

from __future__ import annotations

from pydantic import Field, model_validator

from quoteflow.config import Section

__all__ = ["GatewaySettings"]


class GatewaySettings(Section):
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
