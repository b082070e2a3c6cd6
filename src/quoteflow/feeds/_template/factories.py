"""The example provider's live feed, built from its settings and a command's options."""

from __future__ import annotations

from collections.abc import Sequence

from quoteflow.feeds._template.client import ExampleStream
from quoteflow.feeds._template.config import ExampleSettings

__all__ = ["live_feed"]


async def live_feed(settings: ExampleSettings, symbols: Sequence[str]) -> ExampleStream:
    """Return the stream of the quotes of ``symbols``."""
    return ExampleStream(settings, symbols)
