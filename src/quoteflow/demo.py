"""``quoteflow demo``: the synthetic feed through the enrichment job, with a live summary.

The gateway serves the enriched feed on localhost meanwhile, with a demo key.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from quoteflow.bus import MemoryBus, Message
from quoteflow.config import Settings, SyntheticSettings
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.errors import ConfigError
from quoteflow.events import Alert, Bar, DeadLetter, EnrichedQuote, EnrichedTrade
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


def _render(pipeline: Pipeline, sink: SummarySink, rates: _Rates, gateway: Gateway) -> Group:
    topics = Table(title="Topics", title_justify="left")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    topics.add_column("per second", justify="right")
    for topic in sorted({*pipeline.published, DeadLetter.TOPIC}):
        topics.add_row(topic, f"{pipeline.published[topic]:,}", f"{rates.per_s.get(topic, 0):,.0f}")

    book = Table(title="Enriched, per instrument (synthetic)", title_justify="left")
    columns = ("inst", "bid", "ask", "last", "chg %", "move", "bar", "sma20", "rsi14")
    for column in columns:
        book.add_column(column, justify="left" if column in ("inst", "move") else "right")
    for name in sorted(sink.quotes):
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
    return Group(topics, book, alerts, footer, subscribers)


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
    job = Enricher(settings.enrich, PreviousCloses(market.previous_closes(), config.calendar))
    sink = SummarySink(job.candles.topic)
    stage = Stage("enrich", ("quotes", "trades"), job)
    stop = asyncio.Event()
    install_stop_signals(stop)
    session = datetime.fromtimestamp(market.clock_ns / 1e9, tz=UTC).date()
    header = (
        f"quoteflow demo: SYNTHETIC data (seeded random walk, not real prices). "
        f"{config.instruments} instruments, {config.calendar} session of {session}, "
        f"market time x{speed:g}. Ctrl-C stops."
    )
    console.print(header, style="bold", highlight=False)
    with tempfile.TemporaryDirectory(prefix="quoteflow-demo-") as scratch:
        server, key = await _start_gateway(settings, Path(scratch), job.candles.topic)
        gateway = server.gateway
        console.print(f"gateway: {server.stream_url}  demo key: {key}", highlight=False,
                      soft_wrap=True)  # fmt: skip
        console.print(f"  try: QUOTEFLOW_API_KEY={key} quoteflow subscribe --url "
                      f"{server.stream_url} --channel quotes.enriched --instruments SYN00",
                      highlight=False, soft_wrap=True)  # fmt: skip
        sinks = [sink, GatewaySink(gateway.hub, gateway.channels, gateway.metrics)]
        pipeline = Pipeline(bus, [SyntheticFeed(market, speed=speed)], [stage], sinks)
        rates = _Rates()
        run = asyncio.create_task(pipeline.run(stop))
        started = time.monotonic()
        try:
            with Live(_render(pipeline, sink, rates, gateway), console=console,
                      auto_refresh=False) as live:  # fmt: skip
                while not run.done():
                    await asyncio.wait({run}, timeout=_REFRESH_S)
                    if duration_s is not None and time.monotonic() - started >= duration_s:
                        stop.set()
                    rates.update(pipeline.published)
                    live.update(_render(pipeline, sink, rates, gateway), refresh=True)
            await run
        finally:
            await server.stop()
            await bus.close()
    total = sum(pipeline.published.values())
    console.print(
        f"\nstopped cleanly: {total:,} records published, {sum(sink.seen.values()):,} delivered, "
        f"{len(sink.dead_letters)} dead letters"
    )
    return sink
