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
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from quoteflow.bus import MemoryBus, Message
from quoteflow.calendars import calendar_by_name
from quoteflow.config import Settings, SyntheticSettings
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.errors import ConfigError
from quoteflow.events import Alert, Bar, DeadLetter, EnrichedQuote, EnrichedTrade
from quoteflow.exchange.instruments import load_instruments
from quoteflow.exchange.serve import RunningExchange, serve_exchange
from quoteflow.exchange.simulate import OrderFlow, drive_exchange
from quoteflow.feeds.base import Feed
from quoteflow.feeds.replay import ReplayFeed
from quoteflow.feeds.synthetic import SyntheticFeed, SyntheticMarket, default_instruments
from quoteflow.gateway.keys import KeyStore
from quoteflow.gateway.server import GatewayServer, build_gateway, gateway_channels
from quoteflow.gateway.service import Gateway
from quoteflow.gateway.sink import GatewaySink
from quoteflow.runtime import Pipeline, Stage, install_stop_signals

__all__ = ["SummarySink", "feed_and_closes", "run_demo", "synthetic_market"]

_REFRESH_S = 0.5
_EXCHANGE_RATE_PER_S = 200


class SummarySink:
    """Keep what the demo shows: newest enriched records and bars, recent alerts, dead letters."""

    name = "summary"

    def __init__(self, bars_topic: str) -> None:
        self.topics = (EnrichedQuote.TYPE, EnrichedTrade.TYPE, bars_topic, Alert.TYPE,
                       DeadLetter.TOPIC)  # fmt: skip
        self.quotes: dict[str, EnrichedQuote] = {}
        self.trades: dict[str, EnrichedTrade] = {}
        self.bars: dict[str, Bar] = {}
        self.alerts: deque[Alert] = deque(maxlen=6)
        self.dead_letters: list[DeadLetter] = []
        self.seen: Counter[str] = Counter()

    async def write(self, messages: list[Message]) -> None:
        """Remember the newest record of each kind per instrument."""
        for message in messages:
            value = message.value
            self.seen[message.topic] += 1
            if isinstance(value, EnrichedQuote):
                self.quotes[value.instrument] = value
            elif isinstance(value, EnrichedTrade):
                self.trades[value.instrument] = value
            elif isinstance(value, Bar):
                self.bars[value.instrument] = value
            elif isinstance(value, Alert):
                self.alerts.append(value)
            elif isinstance(value, DeadLetter):
                self.dead_letters.append(value)

    async def close(self) -> None:
        """Nothing is buffered: the summary is kept in memory."""


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


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


def _exchange_table(running: RunningExchange, sink: SummarySink) -> Table:
    exchange, analytics = running.exchange, running.analytics
    table = Table(title="Exchange (simulated traders), enriched like any feed",
                  title_justify="left")  # fmt: skip
    columns = ("symbol", "bid", "ask", "last", "trades", "chg %", "move", "window SMA",
               "window profit %", "leader")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("symbol", "move") else "right")
    leader = analytics.leaders[-1].symbol if analytics.leaders else None
    for symbol, instrument in exchange.instruments.items():
        bids, asks = exchange.depth(symbol, 1)
        trade = sink.trades.get(symbol)
        window = analytics.latest[symbol][-1] if analytics.latest.get(symbol) else None
        move_style = {"Bullish": "green", "Bearish": "red"}.get(trade.move or "" if trade else "")
        table.add_row(
            symbol,
            str(instrument.price(bids[0][0])) if bids else "-",
            str(instrument.price(asks[0][0])) if asks else "-",
            f"{trade.price:g}" if trade else "-",
            f"{exchange.engine.executions(symbol):,}",
            f"{trade.change_pct:+.2f}" if trade and trade.change_pct is not None else "-",
            Text(trade.move or "-", style=move_style or "") if trade else "-",
            f"{window.sma:g}" if window else "-",
            f"{window.profit_pct:+.2f}" if window else "-",
            "*" if symbol == leader else "",
        )
    return table


def _render(pipeline: Pipeline, sink: SummarySink, rates: _Rates, gateway: Gateway,
            running: RunningExchange) -> Group:  # fmt: skip
    topics = Table(title="Topics", title_justify="left")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    topics.add_column("per second", justify="right")
    published = pipeline.published + running.published()
    for topic in sorted({*published, DeadLetter.TOPIC}):
        topics.add_row(topic, f"{published[topic]:,}", f"{rates.per_s.get(topic, 0):,.0f}")

    book = Table(title="Enriched, per instrument (synthetic)", title_justify="left")
    columns = ("inst", "bid", "ask", "last", "chg %", "move", "bar", "sma20", "rsi14")
    for column in columns:
        book.add_column(column, justify="left" if column in ("inst", "move") else "right")
    for name in sorted(n for n in sink.quotes if n not in running.exchange.instruments):
        q = sink.quotes[name]
        trade = sink.trades.get(name)
        latest = trade if trade is not None and trade.ts_event > q.ts_event else q
        values = latest.indicators or {}
        bar = sink.bars.get(name)
        move_style = {"Bullish": "green", "Bearish": "red"}.get(latest.move or "", "")
        book.add_row(
            name,
            f"{q.bid_price:.2f}",
            f"{q.ask_price:.2f}",
            f"{trade.price:.2f}" if trade else "-",
            f"{latest.change_pct:+.2f}" if latest.change_pct is not None else "-",
            Text(latest.move or "-", style=move_style),
            f"{bar.close:.2f}" if bar else "-",
            f"{values['sma_20']:.2f}" if "sma_20" in values else "-",
            f"{values['rsi_14']:.1f}" if "rsi_14" in values else "-",
        )
    alerts = Table(title="Recent alerts", title_justify="left")
    for column in ("time UTC", "instrument", "alert", "message"):
        alerts.add_column(column)
    for alert in reversed(sink.alerts):
        alerts.add_row(_clock(alert.ts_event), alert.instrument, alert.rule, alert.message)
    dead = len(sink.dead_letters)
    footer = Text(f"dead letters: {dead}", style="red" if dead else "green")
    delivered = gateway.metrics.total("delivered_records")
    subscribers = Text(f"gateway: {len(gateway.connections)} subscribers, "
                       f"{delivered:,.0f} records delivered")  # fmt: skip
    return Group(topics, book, _exchange_table(running, sink), alerts, footer, subscribers)


def synthetic_market(config: SyntheticSettings, start: date | None = None) -> SyntheticMarket:
    """Build the synthetic market the settings describe, from ``start`` (default: latest)."""
    return SyntheticMarket(
        default_instruments(config.instruments),
        seed=config.seed,
        rate_per_s=config.rate_per_s,
        trade_probability=config.trade_probability,
        annual_volatility=config.annual_volatility,
        start=start,
        calendar=config.calendar,
    )


def feed_and_closes(
    settings: Settings,
    files: Sequence[Path],
    speed: float | None,
    *,
    previous_closes: str | None = None,
    duration_s: float | None = None,
) -> tuple[Feed, PreviousCloses]:
    """Return the embedded feed and its previous closes: replayed ``files``, else synthetic.

    Replayed files take their closes from ``previous_closes`` (default: [enrich]
    previous_closes; none known: no closes); the synthetic market brings its own.
    ``speed`` None replays as fast as possible. Raises QuoteflowError for an
    unreadable closes file.
    """
    config = settings.enrich
    if files:
        path = previous_closes or config.previous_closes
        closes = PreviousCloses.read(path, config.calendar) if path else PreviousCloses(
            {}, config.calendar)  # fmt: skip
        return ReplayFeed(files, speed=speed), closes
    market = synthetic_market(settings.synthetic)
    feed = SyntheticFeed(market, speed=speed, duration_s=duration_s)
    return feed, PreviousCloses(market.previous_closes(), config.calendar)


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
    server = GatewayServer.from_settings(gateway, demo)
    try:
        await server.start()
    except ConfigError:  # the configured port is taken: any free one will do for a demo
        server = GatewayServer(gateway, host=demo.gateway.host, port=0)
        await server.start()
    return server, key


async def _start_exchange(
    settings: Settings, scratch: Path, bus: MemoryBus, stop: asyncio.Event
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
    bus = MemoryBus(partitions=settings.bus.partitions, capacity=settings.bus.capacity)
    stop = asyncio.Event()
    install_stop_signals(stop)
    session = datetime.fromtimestamp(market.clock_ns / 1e9, tz=UTC).date()
    header = (
        f"quoteflow demo: SYNTHETIC data (seeded random walk, not real prices). "
        f"{config.instruments} instruments, {config.calendar} session of {session}, "
        f"market time x{speed:g}; a simulated exchange. Ctrl-C stops."
    )
    console.print(header, style="bold", highlight=False)
    with tempfile.TemporaryDirectory(prefix="quoteflow-demo-") as directory:
        scratch = Path(directory)
        closes = market.previous_closes() | _exchange_closes(settings.enrich.calendar)
        job = Enricher(settings.enrich, PreviousCloses(closes, config.calendar))
        sink = SummarySink(job.candles.topic)
        stage = Stage("enrich", ("quotes", "trades"), job)
        server, key = await _start_gateway(settings, scratch, job.candles.topic)
        gateway = server.gateway
        console.print(f"gateway: {server.stream_url}  demo key: {key}", highlight=False,
                      soft_wrap=True)  # fmt: skip
        console.print(f"  try: QUOTEFLOW_API_KEY={key} quoteflow subscribe --url "
                      f"{server.stream_url} --channel quotes.enriched --instruments SYN00",
                      highlight=False, soft_wrap=True)  # fmt: skip
        serving, running = await _start_exchange(settings, scratch, bus, stop)
        url = running.server.url
        console.print(f"exchange: {url}/v1 (ACME, BOLT, CRUX; the demo key trades as 'demo')",
                      highlight=False, soft_wrap=True)  # fmt: skip
        console.print(f"  try: QUOTEFLOW_API_KEY={key} quoteflow exchange order place ACME buy "
                      f"100 --price 25.40 --url {url}", highlight=False,
                      soft_wrap=True)  # fmt: skip
        flow = OrderFlow(running.exchange.instruments, traders=20, seed=config.seed)
        trading = asyncio.create_task(drive_exchange(running.exchange, flow,
                                                     rate=_EXCHANGE_RATE_PER_S,
                                                     seconds=duration_s or math.inf))  # fmt: skip
        sinks = [sink, GatewaySink(gateway.hub, gateway.channels, gateway.metrics)]
        pipeline = Pipeline(bus, [SyntheticFeed(market, speed=speed)], [stage], sinks)
        rates = _Rates()
        run = asyncio.create_task(pipeline.run(stop))
        started = time.monotonic()
        render = lambda: _render(pipeline, sink, rates, gateway, running)  # noqa: E731
        try:
            with Live(render(), console=console, auto_refresh=False) as live:
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
    total = sum((pipeline.published + running.published()).values())
    console.print(
        f"\nstopped cleanly: {total:,} records published, {sum(sink.seen.values()):,} delivered, "
        f"{len(sink.dead_letters)} dead letters"
    )
    return sink
