"""``quoteflow demo``: the synthetic feed through the embedded runtime, with a live summary."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from quoteflow.bus import MemoryBus, Message
from quoteflow.config import Settings
from quoteflow.events import DeadLetter, Quote, Trade
from quoteflow.feeds.synthetic import SyntheticFeed, SyntheticMarket, default_instruments
from quoteflow.runtime import Pipeline, install_stop_signals

__all__ = ["SummarySink", "run_demo"]

_REFRESH_S = 0.5


class SummarySink:
    """Keep what the demo shows: last quote and trade per instrument, dead letters."""

    name = "summary"
    topics = (Quote.TYPE, Trade.TYPE, DeadLetter.TOPIC)

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.trades: dict[str, Trade] = {}
        self.dead_letters: list[DeadLetter] = []
        self.seen: Counter[str] = Counter()

    async def write(self, messages: list[Message]) -> None:
        """Remember the newest record of each instrument."""
        for message in messages:
            value = message.value
            self.seen[message.topic] += 1
            if isinstance(value, Quote):
                self.quotes[value.instrument] = value
            elif isinstance(value, Trade):
                self.trades[value.instrument] = value
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


def _render(pipeline: Pipeline, sink: SummarySink, rates: _Rates) -> Group:
    topics = Table(title="Topics", title_justify="left")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    topics.add_column("per second", justify="right")
    for topic in sorted({*pipeline.published, DeadLetter.TOPIC}):
        topics.add_row(topic, f"{pipeline.published[topic]:,}", f"{rates.per_s.get(topic, 0):,.0f}")

    book = Table(title="Last quote per instrument (synthetic)", title_justify="left")
    for column in ("instrument", "bid size", "bid", "ask", "ask size", "last", "time UTC"):
        book.add_column(column, justify="left" if column == "instrument" else "right")
    for name in sorted(sink.quotes):
        q = sink.quotes[name]
        trade = sink.trades.get(name)
        book.add_row(
            name,
            f"{q.bid_size:,.0f}",
            f"{q.bid_price:.2f}",
            f"{q.ask_price:.2f}",
            f"{q.ask_size:,.0f}",
            f"{trade.price:.2f}" if trade else "-",
            _clock(q.ts_event),
        )
    dead = len(sink.dead_letters)
    footer = Text(f"dead letters: {dead}", style="red" if dead else "green")
    return Group(topics, book, footer)


async def run_demo(
    settings: Settings,
    *,
    duration_s: float | None = None,
    speed: float = 1.0,
    console: Console | None = None,
) -> SummarySink:
    """Run the demo until Ctrl-C (or for ``duration_s`` wall seconds) and return its summary."""
    console = console or Console()
    config = settings.synthetic
    market = SyntheticMarket(
        default_instruments(config.instruments),
        seed=config.seed,
        rate_per_s=config.rate_per_s,
        trade_probability=config.trade_probability,
        annual_volatility=config.annual_volatility,
        calendar=config.calendar,
    )
    bus = MemoryBus(partitions=settings.bus.partitions, capacity=settings.bus.capacity)
    sink = SummarySink()
    pipeline = Pipeline(bus, [SyntheticFeed(market, speed=speed)], sinks=[sink])
    stop = asyncio.Event()
    install_stop_signals(stop)
    session = datetime.fromtimestamp(market.clock_ns / 1e9, tz=UTC).date()
    header = (
        f"quoteflow demo: SYNTHETIC data (seeded random walk, not real prices). "
        f"{config.instruments} instruments, {config.calendar} session of {session}, "
        f"market time x{speed:g}. Ctrl-C stops."
    )
    console.print(header, style="bold", highlight=False)
    rates = _Rates()
    run = asyncio.create_task(pipeline.run(stop))
    started = time.monotonic()
    with Live(_render(pipeline, sink, rates), console=console, auto_refresh=False) as live:
        while not run.done():
            await asyncio.wait({run}, timeout=_REFRESH_S)
            if duration_s is not None and time.monotonic() - started >= duration_s:
                stop.set()
            rates.update(pipeline.published)
            live.update(_render(pipeline, sink, rates), refresh=True)
    await run
    await bus.close()
    total = sum(pipeline.published.values())
    console.print(
        f"\nstopped cleanly: {total:,} records published, {sum(sink.seen.values()):,} delivered, "
        f"{len(sink.dead_letters)} dead letters"
    )
    return sink
