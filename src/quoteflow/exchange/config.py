"""How the exchange is set up: instruments, the command store, the API, the analytics."""

from __future__ import annotations

from pydantic import Field

from quoteflow.config import Section

__all__ = ["ExchangeSettings"]


class ExchangeSettings(Section):
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
