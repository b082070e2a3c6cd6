"""Deribit's public HTTP API (JSON-RPC over GET): instruments, book summaries, trade history."""

from __future__ import annotations

import time

import aiohttp
import msgspec

from quoteflow.events import Ticker
from quoteflow.feeds.base import normalize_error_from
from quoteflow.feeds.deribit.config import DeribitSettings
from quoteflow.feeds.deribit.parsing import parse_book_summary, parse_trades_page
from quoteflow.feeds.deribit.schemas import DeribitBookSummary, DeribitInstrument, DeribitTrade
from quoteflow.feeds.rest import RestClient

__all__ = ["DeribitPublicApi"]

_TRADES_PER_PAGE = 1000
"""The most trades Deribit returns per request."""


class _Answer(msgspec.Struct, frozen=True, gc=False):
    result: msgspec.Raw


_answer_decoder = msgspec.json.Decoder(_Answer)
_instruments_decoder = msgspec.json.Decoder(list[DeribitInstrument])
_summaries_decoder = msgspec.json.Decoder(list[DeribitBookSummary])


def _result(body: bytes, decoder: msgspec.json.Decoder):
    try:
        return decoder.decode(_answer_decoder.decode(body).result)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise normalize_error_from(exc) from exc


class DeribitPublicApi:
    """Call Deribit's public methods over HTTP (``GET <rest_url>/public/<method>?...``).

    Rate limits and retries are handled by :class:`~quoteflow.feeds.rest.RestClient`;
    a JSON-RPC error answer (HTTP 400) raises :class:`~quoteflow.errors.FeedError`
    with Deribit's message.
    """

    def __init__(
        self, settings: DeribitSettings, http: aiohttp.ClientSession, *,
        rest: RestClient | None = None,
    ) -> None:  # fmt: skip
        self._rest = rest or RestClient(http, settings.rest_url, provider="deribit")

    async def instruments(
        self, currency: str, *, kind: str = "option", expiry: str | None = None
    ) -> list[DeribitInstrument]:
        """Return the active instruments of ``currency`` (``BTC``, ``ETH``...) of one kind.

        ``kind`` is ``option``, ``future`` (perpetuals included) or ``spot``;
        ``expiry`` keeps one expiry, in Deribit's spelling (``10NOV23``).
        """
        body = await self._rest.get(
            "/public/get_instruments", {"currency": currency, "kind": kind, "expired": "false"}
        )
        found = _result(body, _instruments_decoder)
        if expiry is not None:
            found = [i for i in found if i.instrument_name.split("-")[1:2] == [expiry]]
        return found

    async def book_summaries(self, currency: str, *, kind: str = "option") -> list[Ticker]:
        """Return a snapshot ticker of every ``kind`` instrument of ``currency``."""
        body = await self._rest.get(
            "/public/get_book_summary_by_currency", {"currency": currency, "kind": kind}
        )
        ts_recv_ns = time.time_ns()
        return [parse_book_summary(raw, ts_recv_ns) for raw in _result(body, _summaries_decoder)]

    async def trades(self, instrument: str, first_seq: int, last_seq: int) -> list[DeribitTrade]:
        """Return the trades of ``instrument`` numbered ``first_seq`` to ``last_seq``."""
        trades: list[DeribitTrade] = []
        start = first_seq
        while start <= last_seq:
            params = {"instrument_name": instrument, "start_seq": start, "end_seq": last_seq,
                      "count": _TRADES_PER_PAGE, "sorting": "asc"}  # fmt: skip
            page, has_more = parse_trades_page(
                await self._rest.get("/public/get_last_trades_by_instrument", params)
            )
            trades.extend(page)
            if not (has_more and page):
                break
            start = page[-1].trade_seq + 1
        return trades
