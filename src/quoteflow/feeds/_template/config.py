"""The example provider's settings: where its stream is, and its API key."""

from __future__ import annotations

from pydantic import SecretStr

from quoteflow.feeds.config import LiveFeedSettings

__all__ = ["SETTINGS", "ExampleSettings"]


class ExampleSettings(LiveFeedSettings):
    """The example provider: its stream's URL and API key (a secret: from the environment)."""

    api_key: SecretStr | None = None
    stream_url: str = "ws://127.0.0.1:8900/stream"


SETTINGS = ExampleSettings
"""The settings section of this provider (the registry's contract)."""
