"""IG: CFDs and spread bets over the Lightstreamer streaming API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["PROVIDER", "parse_message"]

if TYPE_CHECKING:
    from quoteflow.feeds.ig.parsing import PROVIDER, parse_message

__getattr__, __dir__ = lazy_names(__name__, {
    "PROVIDER": "quoteflow.feeds.ig.parsing",
    "parse_message": "quoteflow.feeds.ig.parsing",
})  # fmt: skip
