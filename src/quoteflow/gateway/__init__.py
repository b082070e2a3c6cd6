"""Delivery to subscribers: API keys and entitlements (the server comes next)."""

from quoteflow.gateway.keys import ApiKey, KeyStore

__all__ = ["ApiKey", "KeyStore"]
