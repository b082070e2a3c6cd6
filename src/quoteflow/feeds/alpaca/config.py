"""Alpaca"s settings: the API key pair, the feed, and the endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from quoteflow.feeds.config import LiveFeedSettings

__all__ = ["SETTINGS", "AlpacaSettings"]


class AlpacaSettings(LiveFeedSettings):
    """Alpaca market data: API key pair, feed, and the endpoints (override for a local server)."""

    key_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    feed: Literal["iex", "sip"] = "iex"
    crypto_location: str = Field("us", pattern=r"^[a-z0-9-]+$")
    stream_url: str = "wss://stream.data.alpaca.markets"
    rest_url: str = "https://data.alpaca.markets"


SETTINGS = AlpacaSettings
"""The settings section of this provider (the registry's contract)."""
