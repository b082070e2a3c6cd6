"""``quoteflow ingest <provider>``: live feeds into the lake or onto Kafka; Alpaca history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quoteflow.cli.common import fail, settings_of, split, stderr, sub_app, usage
from quoteflow.errors import QuoteflowError

if TYPE_CHECKING:
    from quoteflow.feeds.connection import WebSocketFeed

__all__ = ["ingest_app"]

ingest_app = sub_app("Ingest live provider feeds: into the lake (embedded) or onto Kafka (--bus).")


class AlpacaStreamKind(StrEnum):
    """Which Alpaca stream to read."""

    stocks = "stocks"
    crypto = "crypto"
    news = "news"


BusOption = Annotated[
    str | None,
    typer.Option(help="Publish to kafka://host:port[,host:port] instead of recording the lake."),
]
RootOption = Annotated[str | None, typer.Option(help="Lake root (default: [lake] root).")]
SourceOption = Annotated[
    str, typer.Option(help="primary, or replica for a second ingester of the same feed.")
]
DurationOption = Annotated[
    float | None, typer.Option(min=0.001, help="Stop after this many seconds (default: Ctrl-C).")
]
StatsOption = Annotated[float, typer.Option(min=0.1, help="Seconds between metrics log lines.")]


def _run(ctx: typer.Context, feed: WebSocketFeed, bus: str | None, root: str | None,
         source: str, duration: float | None, stats_every: float) -> None:  # fmt: skip
    from quoteflow.app.ingest import run_ingest
    from quoteflow.runtime import install_stop_signals

    if source not in ("primary", "replica"):
        raise usage("--source", source, "primary or replica")
    settings = settings_of(ctx)

    import asyncio

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await run_ingest(feed, settings, bus_url=bus, root=root, source=source,
                         duration_s=duration, stop=stop, stats_every_s=stats_every)  # fmt: skip

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(main())
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error


@ingest_app.command("alpaca")
def ingest_alpaca(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. AAPL,MSFT; * = all.")],
    channels: Annotated[
        str,
        typer.Option(help="Comma-separated: trades,quotes,bars,updatedBars,dailyBars,statuses."),
    ] = "quotes,trades,bars",
    stream: Annotated[
        AlpacaStreamKind, typer.Option(help="stocks (feed from [alpaca] feed), crypto or news.")
    ] = AlpacaStreamKind.stocks,
    backfill: Annotated[
        bool, typer.Option(help="Fetch minute bars missed during a disconnect from REST.")
    ] = True,
    bus: BusOption = None,
    root: RootOption = None,
    source: SourceOption = "primary",
    duration: DurationOption = None,
    stats_every: StatsOption = 10.0,
) -> None:
    """Stream Alpaca quotes, trades, bars and statuses (or news) of a symbol list.

    Credentials: QUOTEFLOW_ALPACA__KEY_ID and QUOTEFLOW_ALPACA__SECRET_KEY. The news
    stream takes --channels news.
    """
    import asyncio

    from quoteflow.feeds.alpaca.factories import live_feed

    settings = settings_of(ctx)
    try:
        feed = asyncio.run(live_feed(settings.alpaca, split(symbols), split(channels),
                                     stream=stream.value, backfill=backfill))  # fmt: skip
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
    _run(ctx, feed, bus, root, source, duration, stats_every)


@ingest_app.command("deribit")
def ingest_deribit(
    ctx: typer.Context,
    instruments: Annotated[
        str, typer.Option(help="Comma-separated instruments, e.g. BTC-PERPETUAL.")
    ] = "",
    options: Annotated[
        str, typer.Option(help="Also every active option of these currencies, e.g. BTC,ETH.")
    ] = "",
    expiry: Annotated[
        str | None, typer.Option(help="Only options of this expiry, e.g. 10NOV23.")
    ] = None,
    interval: Annotated[str, typer.Option(help="100ms, agg2, or raw (needs credentials).")] = (
        "100ms"
    ),
    trades: Annotated[bool, typer.Option(help="Also the trades channel (gap-filled).")] = True,
    snapshot: Annotated[
        bool, typer.Option(help="Start with book-summary tickers of the --options currencies.")
    ] = True,
    bus: BusOption = None,
    root: RootOption = None,
    source: SourceOption = "primary",
    duration: DurationOption = None,
    stats_every: StatsOption = 10.0,
) -> None:
    """Stream Deribit tickers (and trades) of futures, perpetuals and options."""
    import asyncio

    from quoteflow.feeds.deribit.factories import live_feed

    settings = settings_of(ctx)
    try:
        built = live_feed(
            settings.deribit,
            split(instruments),
            option_currencies=split(options),
            expiry=expiry,
            interval=interval,
            trades=trades,
            snapshot=snapshot,
        )
        feed = asyncio.run(built)
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
    stderr.print(f"deribit: {len(feed.instruments)} instruments")
    _run(ctx, feed, bus, root, source, duration, stats_every)


@ingest_app.command("ig")
def ingest_ig(
    ctx: typer.Context,
    epics: Annotated[str, typer.Option(help="Comma-separated epics, e.g. CS.D.BITCOIN.CFE.IP.")],
    bus: BusOption = None,
    root: RootOption = None,
    source: SourceOption = "primary",
    duration: DurationOption = None,
    stats_every: StatsOption = 10.0,
) -> None:
    """Stream IG MARKET prices of epics (REST login, then Lightstreamer).

    Credentials: QUOTEFLOW_IG__API_KEY, QUOTEFLOW_IG__USERNAME, QUOTEFLOW_IG__PASSWORD;
    [ig] account_type = demo | live picks the API.
    """
    import asyncio

    from quoteflow.feeds.ig.factories import live_feed

    settings = settings_of(ctx)
    try:
        feed = asyncio.run(live_feed(settings.ig, split(epics)))
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
    _run(ctx, feed, bus, root, source, duration, stats_every)


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@ingest_app.command("alpaca-bars")
def ingest_alpaca_bars(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option(help="First bar time or date (ISO 8601, UTC if naive).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Parquet or CSV record file.")],
    end: Annotated[str | None, typer.Option(help="Last bar time or date (default: now).")] = None,
    timeframe: Annotated[str, typer.Option(help="1Min, 5Min, 1Hour, 1Day...")] = "1Day",
    crypto: Annotated[bool, typer.Option("--crypto", help="Crypto bars.")] = False,
) -> None:
    """Fetch historical bars from Alpaca's REST API (every page) into a record file.

    Daily bars make the previous-close reference: [enrich] previous_closes = <file>.
    """
    import asyncio

    import aiohttp

    from quoteflow.feeds.alpaca.history import AlpacaHistory
    from quoteflow.formats.records import write_records

    settings = settings_of(ctx)

    async def fetch():
        async with aiohttp.ClientSession() as http:
            history = AlpacaHistory(settings.alpaca, http,
                                    asset_class="crypto" if crypto else "stocks")  # fmt: skip
            return await history.bars(
                split(symbols), timeframe=timeframe,
                start_ns=int(_utc(start).timestamp() * 1e9),
                end_ns=int(_utc(end).timestamp() * 1e9) if end else None,
            )  # fmt: skip

    try:
        bars = asyncio.run(fetch())
        if not bars:
            raise ValueError(f"alpaca: no {timeframe} bars of {symbols} from {start} on")
        write_records(output, bars)
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
    stderr.print(f"wrote {len(bars):,} bars to {output}")
