"""IG's live feed, built from its settings and the epics a command asks for."""

from __future__ import annotations

from collections.abc import Sequence

from quoteflow.feeds.ig.client import IgStream
from quoteflow.feeds.ig.config import IgSettings

__all__ = ["live_feed"]


async def live_feed(settings: IgSettings, epics: Sequence[str]) -> IgStream:
    """Return the stream of the MARKET prices of ``epics``."""
    return IgStream(settings, epics)
