"""Alpaca: US stocks, crypto and news over the market-data stream v2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["PROVIDER", "parse_frame", "parse_message"]

if TYPE_CHECKING:
    from quoteflow.feeds.alpaca.parsing import PROVIDER, parse_frame, parse_message

__getattr__, __dir__ = lazy_names(__name__, {
    "PROVIDER": "quoteflow.feeds.alpaca.parsing",
    "parse_frame": "quoteflow.feeds.alpaca.parsing",
    "parse_message": "quoteflow.feeds.alpaca.parsing",
})  # fmt: skip
