import asyncio
from datetime import date

import exchange_calendars
import pandas as pd

from quoteflow.calendars import sessions
from quoteflow.events import Quote, Trade
from quoteflow.feeds.synthetic import PROVIDER, SyntheticFeed, SyntheticMarket

START = date(2024, 3, 28)  # a Thursday before Good Friday: the next session is Monday


def market(**kwargs) -> SyntheticMarket:
    return SyntheticMarket(["SYN00", "SYN01", "SYN02"], start=START, **kwargs)


def test_market_when_seeded_is_deterministic():
    assert market(seed=3).advance(60 * 10**9) == market(seed=3).advance(60 * 10**9)
    assert market(seed=3).advance(60 * 10**9) != market(seed=4).advance(60 * 10**9)


def test_market_records_are_labelled_synthetic_ordered_and_sane():
    events = market(rate_per_s=20).advance(600 * 10**9)
    assert events and all(e.provider == PROVIDER for e in events)
    assert [e.ts_event for e in events] == sorted(e.ts_event for e in events)
    quotes = [e for e in events if isinstance(e, Quote)]
    trades = [e for e in events if isinstance(e, Trade)]
    assert 0.1 < len(trades) / len(quotes) < 0.3
    for q in quotes:
        assert type(q.bid_price) is float and type(q.ask_size) is float
        assert 0.01 <= round(q.ask_price - q.bid_price, 2) <= 0.03
        assert q.bid_size % 100 == 0 and q.ts_recv > q.ts_event
    for t in trades:
        assert t.size >= 1 and t.aggressor_side in ("buy", "sell")


def test_market_when_session_ends_jumps_over_the_holiday_to_next_open():
    m = market(rate_per_s=0.2)
    events = m.advance(14 * 3600 * 10**9)  # two 6.5-hour sessions and one more hour
    cal = exchange_calendars.get_calendar("XNYS")
    days = {pd.Timestamp(e.ts_event, unit="ns", tz="UTC").date() for e in events}
    assert days == {date(2024, 3, 28), date(2024, 4, 1), date(2024, 4, 2)}
    for e in events:
        minute = pd.Timestamp(e.ts_event, unit="ns", tz="UTC").floor("min")
        assert cal.is_open_on_minute(minute), f"{minute} is outside a session"


def test_sessions_use_the_calendar_including_early_closes():
    ((open_ns, close_ns),) = sessions("XNYS", date(2023, 11, 24), 1)  # day after Thanksgiving
    assert (close_ns - open_ns) / 3600e9 == 3.5


async def test_feed_when_paced_sleeps_market_time_divided_by_speed():
    slept = []
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    feed = SyntheticFeed(
        market(), speed=4.0, duration_s=10, step_ms=1000, clock=lambda: now[0], sleep=fake_sleep
    )
    batches = [b async for b in feed.stream()]
    assert batches
    assert abs(sum(slept) - 10 / 4.0) < 1e-9


async def test_feed_when_unpaced_generates_requested_market_time():
    feed = SyntheticFeed(market(rate_per_s=1), speed=None, duration_s=300, step_ms=60_000)
    events = [e async for b in feed.stream() for e in b.records()]
    span = events[-1].ts_event - events[0].ts_event
    assert 200e9 < span <= 300e9
    await asyncio.sleep(0)


async def test_the_warm_up_history_keeps_to_its_own_rate_then_the_live_rate_resumes():
    market = SyntheticMarket(["A", "B"], seed=3, rate_per_s=100.0, start=date(2026, 11, 2))
    feed = SyntheticFeed(market, speed=None, duration_s=120, warm_up_s=60,
                         warm_up_rate_per_s=5.0)  # fmt: skip
    first = market.clock_ns  # the first session's open
    events = [e async for batch in feed.stream() for e in batch.records()]
    warm = [e for e in events if isinstance(e, Quote) and e.ts_event < first + 60 * 10**9]
    live = [e for e in events if isinstance(e, Quote) and e.ts_event >= first + 60 * 10**9]
    assert 400 < len(warm) < 800  # about 2 x 60 x 5
    assert 10_000 < len(live) < 14_000  # about 2 x 60 x 100
    assert market.rate_per_s == 100.0
