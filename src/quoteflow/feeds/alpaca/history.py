"""Alpaca's REST market-data API: historical bars, every page, within the rate limit."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import aiohttp

from quoteflow.errors import ConfigError
from quoteflow.events import Bar
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.alpaca.parsing import parse_bars_page, period_of_timeframe
from quoteflow.feeds.rest import RestClient

__all__ = ["AlpacaHistory", "credentials"]

_PAGE_LIMIT = 10_000
"""The most bars Alpaca returns per page."""


def credentials(settings: AlpacaSettings) -> tuple[str, str]:
    """Return (key id, secret key), or raise ConfigError saying where to set them."""
    if settings.key_id is None or settings.secret_key is None:
        raise ConfigError(
            "alpaca: no API key; set QUOTEFLOW_ALPACA__KEY_ID and QUOTEFLOW_ALPACA__SECRET_KEY "
            "(or key_id and secret_key under [alpaca] in a chmod 600 config file)"
        )
    return settings.key_id.get_secret_value(), settings.secret_key.get_secret_value()


def _rfc3339(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AlpacaHistory:
    """Historical bars from ``GET /v2/stocks/bars`` (or ``/v1beta3/crypto/<loc>/bars``).

    ``http`` is an open :class:`aiohttp.ClientSession`; the key pair goes in the
    ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers. Pages are followed
    with ``next_page_token``; rate limits and retries are handled by
    :class:`~quoteflow.feeds.rest.RestClient`.
    """

    def __init__(
        self,
        settings: AlpacaSettings,
        http: aiohttp.ClientSession,
        *,
        asset_class: Literal["stocks", "crypto"] = "stocks",
        rest: RestClient | None = None,
    ) -> None:
        key_id, secret_key = credentials(settings)
        self.settings = settings
        self.asset_class = asset_class
        self._rest = rest or RestClient(
            http,
            settings.rest_url,
            provider="alpaca",
            headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key},
        )

    @property
    def rest(self) -> RestClient:
        """Return the REST client (its ``waited_s`` tells time spent on rate limits)."""
        return self._rest

    async def bars(
        self,
        symbols: Sequence[str],
        *,
        timeframe: str = "1Min",
        start_ns: int,
        end_ns: int | None = None,
    ) -> list[Bar]:
        """Return the bars of ``symbols`` from ``start_ns`` to ``end_ns`` (both inclusive).

        ``timeframe`` is Alpaca's: ``1Min``, ``5Min``, ``1Hour``, ``1Day``...; the
        bars' period follows it (``1m``, ``5m``, ``1h``, ``1d``). Bars come sorted
        by symbol, then time, as Alpaca pages them.
        """
        if not symbols:
            return []
        period = period_of_timeframe(timeframe)
        path = (
            f"/v1beta3/crypto/{self.settings.crypto_location}/bars"
            if self.asset_class == "crypto"
            else "/v2/stocks/bars"
        )
        params: dict[str, str | int] = {
            "symbols": ",".join(symbols),
            "timeframe": timeframe,
            "start": _rfc3339(start_ns),
            "limit": _PAGE_LIMIT,
            "sort": "asc",
        }
        if end_ns is not None:
            params["end"] = _rfc3339(end_ns)
        if self.asset_class != "crypto":
            params["feed"] = self.settings.feed
            params["adjustment"] = "raw"
        bars: list[Bar] = []
        while True:
            body = await self._rest.get(path, params)
            page, token = parse_bars_page(body, time.time_ns(), period)
            bars.extend(page)
            if not token:
                return bars
            params["page_token"] = token
