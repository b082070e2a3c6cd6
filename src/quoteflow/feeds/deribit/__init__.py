"""Deribit: crypto futures, perpetuals and options over JSON-RPC WebSocket."""

from quoteflow.feeds.deribit.parsing import PROVIDER, parse_frame, parse_message, parse_ticker

__all__ = ["PROVIDER", "parse_frame", "parse_message", "parse_ticker"]
