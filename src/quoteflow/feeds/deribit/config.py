"""Deribit"s settings: endpoints, credentials, the heartbeat."""

from __future__ import annotations

from pydantic import Field, SecretStr

from quoteflow.feeds.config import LiveFeedSettings

__all__ = ["SETTINGS", "DeribitSettings"]


class DeribitSettings(LiveFeedSettings):
    """Deribit: endpoints, and API credentials (public market data needs none)."""

    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    stream_url: str = "wss://www.deribit.com/ws/api/v2"
    rest_url: str = "https://www.deribit.com/api/v2"
    heartbeat_interval_s: int = Field(
        10, ge=10, description="Deribit test_request interval (public/set_heartbeat, >= 10)"
    )


SETTINGS = DeribitSettings
"""The settings section of this provider (the registry's contract)."""
