"""Deribit's live feed, built from its settings and what a command asks for."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from quoteflow.feeds.deribit.client import DeribitStream
from quoteflow.feeds.deribit.config import DeribitSettings
from quoteflow.feeds.deribit.public_api import DeribitPublicApi

__all__ = ["deribit_instruments", "live_feed"]


async def deribit_instruments(
    settings: DeribitSettings,
    instruments: Sequence[str],
    option_currencies: Sequence[str] = (),
    *,
    expiry: str | None = None,
) -> list[str]:
    """Return ``instruments`` plus every active option of ``option_currencies`` (one expiry)."""
    found = list(instruments)
    if option_currencies:
        async with aiohttp.ClientSession() as http:
            api = DeribitPublicApi(settings, http)
            for currency in option_currencies:
                options = await api.instruments(currency, kind="option", expiry=expiry)
                found.extend(i.instrument_name for i in options)
    return list(dict.fromkeys(found))


async def live_feed(
    settings: DeribitSettings,
    instruments: Sequence[str],
    *,
    option_currencies: Sequence[str] = (),
    expiry: str | None = None,
    interval: str = "100ms",
    trades: bool = True,
    snapshot: bool = True,
) -> DeribitStream:
    """Return the stream of ``instruments`` and the active options of ``option_currencies``.

    With ``snapshot`` it starts with the book summaries of those currencies.
    """
    names = await deribit_instruments(settings, instruments, option_currencies, expiry=expiry)
    return DeribitStream(settings, names, interval=interval, trades=trades,
                         snapshot_currencies=option_currencies if snapshot else ())  # fmt: skip
