"""IG"s settings: the REST login and Lightstreamer streaming."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from quoteflow.feeds.config import LiveFeedSettings

__all__ = ["SETTINGS", "IgSettings"]


class IgSettings(LiveFeedSettings):
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
        """Return the REST base URL: ``rest_url`` if set, else IG"s for the account type."""
        if self.rest_url:
            return self.rest_url.rstrip("/")
        host = "demo-api.ig.com" if self.account_type == "demo" else "api.ig.com"
        return f"https://{host}/gateway/deal"


SETTINGS = IgSettings
"""The settings section of this provider (the registry's contract)."""
