"""Deribit: crypto futures, perpetuals and options over JSON-RPC WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["PROVIDER", "parse_frame", "parse_message", "parse_ticker"]

if TYPE_CHECKING:
    from quoteflow.feeds.deribit.parsing import PROVIDER, parse_frame, parse_message, parse_ticker

__getattr__, __dir__ = lazy_names(__name__, {
    "PROVIDER": "quoteflow.feeds.deribit.parsing",
    "parse_frame": "quoteflow.feeds.deribit.parsing",
    "parse_message": "quoteflow.feeds.deribit.parsing",
    "parse_ticker": "quoteflow.feeds.deribit.parsing",
})  # fmt: skip
