import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from quoteflow.bus import MemoryBus
from quoteflow.bus.base import records_of
from quoteflow.events import Alert, DeadLetter, Quote
from quoteflow.feeds.base import Normalized
from quoteflow.runtime import Pipeline, Stage
from quoteflow.sinks import Sink


def quote(instrument: str, ts: int, bid: float = 10.0, ask: float = 10.02) -> Quote:
    return Quote("TEST", instrument, ts, ts + 1, bid_price=bid, ask_price=ask)


class ListFeed:
    name = "list"

    def __init__(self, batches: list[Normalized]) -> None:
        self.batches = batches

    async def stream(self):
        for batch in self.batches:
            yield batch


class EndlessFeed:
    name = "endless"

    def __init__(self) -> None:
        self.sent = 0

    async def stream(self):
        while True:
            yield Normalized([quote(f"I{self.sent % 7}", self.sent)])
            self.sent += 1
            await asyncio.sleep(0)


class WideSpreadAlerts:
    """Alert when the spread exceeds a limit; counts quotes per partition as its state."""

    def initial_state(self) -> int:
        return 0

    def process(self, batch, state):
        out = [
            (
                "alerts",
                Alert(
                    q.provider,
                    q.instrument,
                    q.ts_event,
                    q.ts_recv,
                    "wide_spread",
                    "spread above 0.05",
                    q.ask_price - q.bid_price,
                    0.05,
                ),
            )
            for q in batch
            if q.ask_price - q.bid_price > 0.05
        ]
        return out, state + len(batch)


class CollectSink(Sink):
    def __init__(self, name: str, topics: tuple[str, ...]) -> None:
        self.name = name
        self.topics = topics
        self.records = []
        self.closed = False

    async def write(self, messages) -> None:
        self.records.extend(records_of(messages))

    async def close(self) -> None:
        self.closed = True


async def test_pipeline_when_feeds_end_delivers_everything_through_stages_to_sinks():
    quotes = [quote(f"I{i % 5}", i, ask=10.02 if i % 10 else 10.5) for i in range(500)]
    dead = DeadLetter("TEST", "normalize", 0, "bp", "expected a number", "{}")
    feed = ListFeed([Normalized(quotes[:250], [dead]), Normalized(quotes[250:])])
    alerts = CollectSink("alerts", ("alerts",))
    everything = CollectSink("all", ("quotes", "dead_letters"))
    bus = MemoryBus(partitions=3, capacity=50)
    stage = Stage("spread", ("quotes",), WideSpreadAlerts())
    pipeline = Pipeline(bus, [feed], [stage], [alerts, everything])
    await asyncio.wait_for(pipeline.run(), 30)
    assert len(alerts.records) == 50
    assert all(isinstance(a, Alert) and a.rule == "wide_spread" for a in alerts.records)
    assert sorted(q.ts_event for q in everything.records if isinstance(q, Quote)) == list(
        range(500)
    )
    assert [d for d in everything.records if isinstance(d, DeadLetter)] == [dead]
    assert pipeline.published == {"quotes": 500, "dead_letters": 1, "alerts": 50}
    assert alerts.closed and everything.closed
    assert pipeline.lag() == 0


async def test_pipeline_when_stopped_drains_what_was_published_before_returning():
    feed = EndlessFeed()
    sink = CollectSink("all", ("quotes",))
    pipeline = Pipeline(MemoryBus(partitions=2, capacity=20), [feed], sinks=[sink])
    stop = asyncio.Event()
    run = asyncio.create_task(pipeline.run(stop))
    while len(sink.records) < 200:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(run, 30)
    assert len(sink.records) == pipeline.published["quotes"] >= 200
    assert sink.closed


class Broken:
    def initial_state(self):
        return None

    def process(self, batch, state):
        raise ZeroDivisionError("bug in operator")


async def test_pipeline_when_a_stage_fails_raises_its_error():
    feed = ListFeed([Normalized([quote("A", 1)])])
    pipeline = Pipeline(MemoryBus(), [feed], [Stage("broken", ("quotes",), Broken())])
    with pytest.raises(ZeroDivisionError, match="bug in operator"):
        await asyncio.wait_for(pipeline.run(), 30)


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from quoteflow.bus import MemoryBus
    from quoteflow.runtime import Pipeline, install_stop_signals
    from tests.runtime.test_pipeline import CollectSink, EndlessFeed

    async def main():
        sink = CollectSink("all", ("quotes",))
        pipeline = Pipeline(MemoryBus(capacity=10), [EndlessFeed()], sinks=[sink])
        stop = asyncio.Event()
        install_stop_signals(stop)
        run = asyncio.create_task(pipeline.run(stop))
        while len(sink.records) < 100:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await run
        ok = sink.closed and len(sink.records) == pipeline.published["quotes"]
        print("drained" if ok else "lost records", flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_pipeline_when_signalled_drains_flushes_and_exits_zero(sig):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.strip() == "drained"


async def test_an_enrich_stage_reading_quotes_and_trades_sees_every_instrument_in_event_order():
    from datetime import date

    from quoteflow.enrich import Enricher, PreviousCloses
    from quoteflow.enrich.config import EnrichSettings
    from quoteflow.feeds.synthetic import SyntheticMarket

    events = SyntheticMarket(["A", "B", "C", "D"], start=date(2024, 4, 1), rate_per_s=5,
                             seed=2).advance(600 * 10**9)  # fmt: skip
    feed = ListFeed([Normalized(events[i : i + 500]) for i in range(0, len(events), 500)])

    class Collect(Sink):
        name = "collect"
        topics = ("dead_letters", "trades.enriched", "bars.1m")

        def __init__(self) -> None:
            self.records = []

        async def write(self, messages) -> None:
            self.records += records_of(messages)

        async def close(self) -> None:
            pass

    sink = Collect()
    job = Enricher(EnrichSettings(), PreviousCloses({}))
    stage = Stage("enrich", ("quotes", "trades"), job)
    await Pipeline(MemoryBus(capacity=300), [feed], [stage], [sink], max_batch=64).run()
    assert not [r for r in sink.records if isinstance(r, DeadLetter)]  # no trade came in late
    direct, state = job.process(events, job.initial_state())
    direct += job.flush(state)
    bars = [r for t, r in direct if t == "bars.1m"]
    assert sorted(r.ts_event for r in sink.records if r.TYPE == "bars") == sorted(
        b.ts_event for b in bars
    )
