"""Alpaca: US stocks, crypto and news over the market-data stream v2."""

from quoteflow.feeds.alpaca.parsing import PROVIDER, parse_frame, parse_message

__all__ = ["PROVIDER", "parse_frame", "parse_message"]
