"""``quoteflow demo``: the synthetic feed through the enrichment job, with a live summary.

The gateway serves the enriched feed on localhost meanwhile, with a demo key.
The exchange runs too, on the same bus: simulated traders and a market maker
trade three listed symbols, and their trades go through the same enrichment
(candles, indicators, the previous-close move) and out through the gateway,
like any feed's. The demo key is also a trader's key on the exchange.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from quoteflow.access.keys import KeyStore
from quoteflow.app.exchange import RunningExchange, serve_exchange
from quoteflow.app.gateway import build_gateway
from quoteflow.app.settings import Settings
from quoteflow.app.sources import synthetic_market
from quoteflow.app.stages import enrich_stage
from quoteflow.bus import Bus
from quoteflow.bus import open as open_bus
from quoteflow.calendars import calendar_by_name
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.errors import ConfigError
from quoteflow.exchange.instruments import load_instruments
from quoteflow.exchange.simulate import OrderFlow, drive_exchange
from quoteflow.feeds.synthetic import SyntheticFeed
from quoteflow.gateway.server import GatewayServer, gateway_channels
from quoteflow.gateway.sink import GatewaySink
from quoteflow.runtime import Pipeline, install_stop_signals
from quoteflow.sinks.summary import SummarySink

__all__ = ["run_demo"]

_REFRESH_S = 0.5
_EXCHANGE_RATE_PER_S = 200
_MEASURE = Console(width=1_000)
"""Measures how many lines a text takes at a given width."""
_WARM_UP_S = 3_600.0
"""Market seconds replayed at once before the demo goes live, so indicators start warm."""
_WARM_UP_RATE_PER_S = 5.0
"""Most quote updates per instrument and second in that history (the default rate)."""


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%H:%M:%S")


class _Rates:
    """Records per second per topic, over the last refresh interval."""

    def __init__(self) -> None:
        self._last: Counter[str] = Counter()
        self._at = time.monotonic()
        self.per_s: dict[str, float] = {}

    def update(self, published: Counter[str]) -> None:
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-9)
        self.per_s = {t: (published[t] - self._last[t]) / elapsed for t in published}
        self._last = Counter(published)
        self._at = now


_RATE_GROUPS = (
    ("quotes", ("quotes",)),
    ("trades", ("trades",)),
    ("enriched", ("quotes.enriched", "trades.enriched")),
    ("alerts", ("alerts",)),
    ("orders", ("orders",)),
    ("executions", ("exchange.executions",)),
)


def _rates_line(rates: _Rates, published: Counter[str], dead: int) -> Text:
    """Return records per second by kind of topic, and the dead letters, on one line."""
    parts = [f"{name} {sum(rates.per_s.get(t, 0.0) for t in topics):,.0f}"
             for name, topics in _RATE_GROUPS]  # fmt: skip
    line = Text(f"{sum(published.values()):,} records; per second: " + ", ".join(parts) + "; ")
    line.append(f"dead letters {dead}", style="red" if dead else "green")
    return line


def _instruments(sink: SummarySink, running: RunningExchange, rows: int) -> Table:
    """Return the latest enriched state per instrument, the exchange's last: at most ``rows``."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), expand=False,
                  title="per instrument: synthetic feed, then the exchange's symbols",
                  title_justify="left", title_style="bold")  # fmt: skip
    for column in ("inst", "bid", "ask", "last", "chg %", "move", "bar", "sma20", "rsi14"):
        table.add_column(column, justify="left" if column in ("inst", "move") else "right",
                         no_wrap=True)  # fmt: skip
    exchange = running.exchange
    synthetic = sorted(n for n in sink.quotes if n not in exchange.instruments)
    names = [*synthetic, *exchange.instruments][:rows]
    for name in names:
        quote, trade = sink.quotes.get(name), sink.trades.get(name)
        newer_trade = trade is not None and (quote is None or trade.ts_event > quote.ts_event)
        latest = trade if newer_trade else quote
        if name in exchange.instruments:
            bids, asks = exchange.depth(name, 1)
            instrument = exchange.instruments[name]
            bid = str(instrument.price(bids[0][0])) if bids else "-"
            ask = str(instrument.price(asks[0][0])) if asks else "-"
        else:
            bid = f"{quote.bid_price:.2f}" if quote and quote.bid_price else "-"
            ask = f"{quote.ask_price:.2f}" if quote and quote.ask_price else "-"
        values = (latest.indicators or {}) if latest else {}
        bar = sink.bars.get(name)
        move = latest.move if latest else None
        table.add_row(
            name,
            bid,
            ask,
            f"{trade.price:.2f}" if trade else "-",
            f"{latest.change_pct:+.2f}" if latest and latest.change_pct is not None else "-",
            Text(move or "-", style={"Bullish": "green", "Bearish": "red"}.get(move or "", "")),
            f"{bar.close:.2f}" if bar else "-",
            f"{values['sma_20']:.2f}" if "sma_20" in values else "-",
            f"{values['rsi_14']:.1f}" if "rsi_14" in values else "-",
        )
    hidden = len(synthetic) + len(exchange.instruments) - len(names)
    if hidden > 0:
        table.caption = f"(+{hidden} more: a taller terminal shows them)"
        table.caption_justify = "left"
    return table


def _alerts(sink: SummarySink, rows: int, width: int) -> Group:
    """Return the newest ``rows`` alerts, one line each, with their market time."""
    lines = [Text("recent alerts (market time, UTC)", style="bold")]
    for alert in list(reversed(sink.alerts))[:rows]:
        line = Text(f"{_clock(alert.ts_event)} {alert.instrument:<6} {alert.rule}: {alert.message}")
        line.truncate(width, overflow="ellipsis")
        lines.append(line)
    return Group(*lines)


def _render(header: list[Text], pipeline: Pipeline, sink: SummarySink, rates: _Rates,
            running: RunningExchange, size: tuple[int, int]) -> Group:  # fmt: skip
    """Return one screen of the demo that fits ``size`` (width, height): header first."""
    width, height = size
    published = pipeline.published + running.published()
    rates_line = _rates_line(rates, published, len(sink.dead_letters))
    alert_rows = 3
    wrapped = sum(len(line.wrap(_MEASURE, width)) for line in (*header, rates_line))
    fixed = wrapped + 4 + 1 + alert_rows  # the table's title, head, rule and caption; alerts
    rows = max(1, height - fixed - 1)  # the last line stays free for the cursor
    return Group(*header, rates_line, _instruments(sink, running, rows),
                 _alerts(sink, alert_rows, width))  # fmt: skip


async def _start_gateway(
    settings: Settings, scratch: Path, bars_topic: str
) -> tuple[GatewayServer, str]:
    """Start the demo's gateway with a demo key, both kept in ``scratch``; return it and the key."""
    demo = settings.model_copy(update={
        "gateway": settings.gateway.model_copy(update={
            "keys_db": str(scratch / "keys.db"), "audit_log": str(scratch / "audit.jsonl")}),
        "lake": settings.lake.model_copy(update={"root": str(scratch / "lake")}),
    })  # fmt: skip
    keys = KeyStore(demo.gateway.keys_db)
    _, key = keys.create("demo", channels=["*"], instruments=["*"])
    gateway = build_gateway(demo, gateway_channels(bars_topic), keys=keys)
    server = GatewayServer.from_settings(gateway, demo.gateway)
    try:
        await server.start()
    except ConfigError:  # the configured port is taken: any free one will do for a demo
        server = GatewayServer(gateway, host=demo.gateway.host, port=0)
        await server.start()
    return server, key


async def _start_exchange(
    settings: Settings, scratch: Path, bus: Bus, stop: asyncio.Event
) -> tuple[asyncio.Task[None], RunningExchange]:
    """Start the demo's exchange (the sample listing) on ``bus``, its store in ``scratch``."""
    demo = settings.model_copy(update={
        "gateway": settings.gateway.model_copy(update={"keys_db": str(scratch / "keys.db")}),
        "exchange": settings.exchange.model_copy(update={
            "instruments": None, "db": str(scratch / "exchange.db"),
            "stats_window": "1m", "stats_every": "30s"}),
    })  # fmt: skip
    for port in (settings.exchange.port, 0):  # the configured port, else any free one
        started: asyncio.Future[RunningExchange] = asyncio.get_running_loop().create_future()
        on_port = demo.model_copy(update={"exchange": demo.exchange.model_copy(
            update={"port": port})})  # fmt: skip
        task = asyncio.create_task(serve_exchange(on_port, bus=bus, on_start=started.set_result,
                                                  stop=stop))  # fmt: skip
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            return task, started.result()
        if not isinstance(task.exception(), ConfigError) or port == 0:
            await task  # raises what went wrong
    raise AssertionError("unreachable: port 0 always binds")


def _exchange_closes(calendar: str) -> dict[str, dict[date, float]]:
    """Return the listed reference prices as the closes of the last sessions of ``calendar``."""
    today = pd.Timestamp(datetime.now(UTC).date())
    sessions = calendar_by_name(calendar).sessions_in_range(today - pd.Timedelta(days=20), today)
    return {symbol: {s.date(): float(i.reference_price) for s in sessions}
            for symbol, i in load_instruments(None).items()}  # fmt: skip


def _header(settings: Settings, server: GatewayServer, running: RunningExchange, key: str,
            session: date, speed: float) -> list[Text]:  # fmt: skip
    """Return the lines that stay at the top of the demo: what runs, where, and what to try."""
    config = settings.synthetic
    gateway_url, exchange_url = server.stream_url, running.server.url
    subscribe = "quoteflow subscribe --channel quotes.enriched --instruments SYN00"
    if server.port != settings.gateway.port:
        subscribe += f" --url {gateway_url}"
    place = "quoteflow exchange order place ACME buy 100 --price 25.40"
    if running.server.port != settings.exchange.port:
        place += f" --url {exchange_url}"
    return [
        Text(f"quoteflow demo: SYNTHETIC prices, {config.instruments} instruments, "
             f"{config.calendar} session of {session}, market time x{speed:g}; Ctrl-C stops",
             style="bold"),
        Text(f"gateway {gateway_url}   exchange {exchange_url}/v1"),
        Text(f"export QUOTEFLOW_API_KEY={key}", style="cyan"),
        Text(f"try: {subscribe}", style="cyan"),
        Text(f"     {place}", style="cyan"),
    ]  # fmt: skip


async def run_demo(
    settings: Settings,
    *,
    duration_s: float | None = None,
    speed: float = 1.0,
    console: Console | None = None,
) -> SummarySink:
    """Run the demo until Ctrl-C (or for ``duration_s`` wall seconds) and return its summary.

    The gateway serves the enriched feed on localhost meanwhile, with a demo key
    printed at start-up.
    """
    console = console or Console()
    config = settings.synthetic
    market = synthetic_market(config)
    bus = open_bus("memory://", settings.bus)
    stop = asyncio.Event()
    install_stop_signals(stop)
    session = datetime.fromtimestamp(market.clock_ns / 1e9, tz=UTC).date()
    with tempfile.TemporaryDirectory(prefix="quoteflow-demo-") as directory:
        scratch = Path(directory)
        closes = market.previous_closes() | _exchange_closes(settings.enrich.calendar)
        job = Enricher(settings.enrich, PreviousCloses(closes, config.calendar))
        sink = SummarySink(job.candles.topic)
        stage = enrich_stage(job)
        server, key = await _start_gateway(settings, scratch, job.candles.topic)
        gateway = server.gateway
        serving, running = await _start_exchange(settings, scratch, bus, stop)
        header = _header(settings, server, running, key, session, speed)
        flow = OrderFlow(running.exchange.instruments, traders=20, seed=config.seed)
        trading = asyncio.create_task(drive_exchange(running.exchange, flow,
                                                     rate=_EXCHANGE_RATE_PER_S,
                                                     seconds=duration_s or math.inf))  # fmt: skip
        sinks = [sink, GatewaySink(gateway.hub, gateway.channels, gateway.metrics)]
        feed = SyntheticFeed(market, speed=speed, warm_up_s=_WARM_UP_S,
                             warm_up_rate_per_s=_WARM_UP_RATE_PER_S)  # fmt: skip
        pipeline = Pipeline(bus, [feed], [stage], sinks)
        rates = _Rates()
        run = asyncio.create_task(pipeline.run(stop))
        started = time.monotonic()

        if not console.is_terminal:  # a log, not a screen: the header once, then whole frames
            for line in header:
                console.print(line, soft_wrap=True)
            header = []

        def render() -> Group:
            height = console.size.height if console.is_terminal else 1_000
            return _render(header, pipeline, sink, rates, running, (console.size.width, height))

        try:
            with Live(render(), console=console, auto_refresh=False,
                      vertical_overflow="crop") as live:  # fmt: skip
                while not run.done():
                    await asyncio.wait({run}, timeout=_REFRESH_S)
                    if duration_s is not None and time.monotonic() - started >= duration_s:
                        stop.set()
                    rates.update(pipeline.published + running.published())
                    live.update(render(), refresh=True)
            await run
        finally:
            stop.set()
            trading.cancel()
            await asyncio.gather(trading, return_exceptions=True)
            await serving
            await server.stop()
            await bus.close()
    published = sum((pipeline.published + running.published()).values())
    delivered = gateway.metrics.total("delivered_records")
    console.line()
    console.print(
        f"stopped cleanly: {published:,} records published to topics, {delivered:,.0f} "
        f"delivered to gateway subscribers, {len(sink.dead_letters)} dead letters",
        highlight=False,
    )
    return sink
