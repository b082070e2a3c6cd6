"""The gateway's fan-out core: sequence numbers, snapshots, resume, slow consumers."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quoteflow.gateway.hub import Hub, ResumeGapError, Subscription


def everything(channel, instrument):
    return True


def test_each_channel_numbers_its_records_and_keeps_the_latest_per_instrument():
    hub = Hub()
    for i, instrument in enumerate(["A", "B", "A"]):
        hub.publish("quotes.enriched", instrument, f"q{i}".encode())
    hub.publish("alerts", "A", b"a0")
    assert hub.sequence("quotes.enriched") == 3 and hub.sequence("alerts") == 1
    snapshot = hub.snapshot("quotes.enriched", everything)
    assert [(d.instrument, d.sequence, d.payload) for d in snapshot] == [
        ("B", 2, b"q1"), ("A", 3, b"q2")]  # fmt: skip
    only_b = hub.snapshot("quotes.enriched", lambda c, i: i == "B")
    assert [d.instrument for d in only_b] == ["B"]


@given(st.lists(st.sampled_from(["A", "B", "C"]), max_size=60), st.integers(0, 70))
def test_replay_gives_exactly_the_wanted_records_after_a_sequence_number(instruments, after):
    hub = Hub(window=1_000)
    published = [hub.publish("trades.enriched", i, i.encode()) for i in instruments]
    wants = lambda channel, instrument: instrument != "C"  # noqa: E731
    replayed = list(hub.replay("trades.enriched", after, wants))
    assert replayed == [d for d in published if d.sequence > after and d.instrument != "C"]


def test_resume_from_before_the_window_is_refused_explicitly():
    hub = Hub(window=10)
    for i in range(25):
        hub.publish("bars.1m", "A", str(i).encode())
    assert [d.sequence for d in hub.replay("bars.1m", 15, everything)] == list(range(16, 26))
    with pytest.raises(ResumeGapError, match="resume after 14 asked, the window starts at 16"):
        hub.replay("bars.1m", 14, everything)


async def test_a_stalled_subscriber_overflows_and_never_delays_the_others():
    hub = Hub()
    stalled, fast = Subscription(everything, capacity=10), Subscription(everything)
    hub.subscribe(stalled)
    hub.subscribe(fast)
    received = []

    async def read():
        while len(received) < 1_000:
            received.extend(await fast.next())

    reader = asyncio.create_task(read())
    for i in range(1_000):
        hub.publish("quotes.enriched", "A", str(i).encode())  # never awaits
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(reader, 5)
    assert [d.sequence for d in received] == list(range(1, 1_001))
    assert stalled.overflowed and await stalled.next() == []


async def test_a_conflating_subscriber_gets_the_newest_record_per_instrument_when_behind():
    hub = Hub()
    subscription = Subscription(everything, capacity=5, conflate=True)
    hub.subscribe(subscription)
    for i in range(20):
        hub.publish("quotes.enriched", "AB"[i % 2], str(i).encode())
    first = await subscription.next()
    assert [d.payload for d in first] == [b"0", b"1", b"2", b"3", b"4", b"18", b"19"]
    assert not subscription.overflowed
