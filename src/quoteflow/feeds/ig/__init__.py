"""IG: CFDs and spread bets over the Lightstreamer streaming API."""

from quoteflow.feeds.ig.parsing import PROVIDER, parse_message

__all__ = ["PROVIDER", "parse_message"]
