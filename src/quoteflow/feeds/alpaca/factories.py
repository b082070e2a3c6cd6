"""Alpaca's live feed, built from its settings and what a command asks for."""

from __future__ import annotations

from collections.abc import Sequence

from quoteflow.feeds.alpaca.client import AlpacaStream, AssetClass
from quoteflow.feeds.alpaca.config import AlpacaSettings

__all__ = ["live_feed"]


async def live_feed(
    settings: AlpacaSettings,
    symbols: Sequence[str],
    channels: Sequence[str] = ("quotes", "trades", "bars"),
    *,
    stream: AssetClass = "stocks",
    backfill: bool = True,
) -> AlpacaStream:
    """Return the stream of ``channels`` of ``symbols``; the news stream reads channel news."""
    wanted = ["news"] if stream == "news" else list(channels)
    return AlpacaStream(settings, {channel: list(symbols) for channel in wanted},
                        asset_class=stream, backfill=backfill)  # fmt: skip
