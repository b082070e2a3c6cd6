"""The gateway's fan-out core: sequence numbers, snapshots, resume, slow consumers."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quoteflow.gateway.errors import ResumeGapError
from quoteflow.gateway.hub import Hub, Piece, Subscription
from quoteflow.gateway.journal import Journal
from quoteflow.storage import LakeRoot


def everything(channel, instrument):
    return True


def records(items):
    """Flatten what a subscription returned into (instrument, sequence, payload)."""
    return [(d.instrument, d.sequence, d.payload) for p in items for d in p.deliveries]


def test_each_channel_numbers_its_records_and_keeps_the_latest_per_instrument():
    hub = Hub()
    hub.publish("quotes.enriched", [("A", b"q0"), ("B", b"q1"), ("A", b"q2")])
    hub.publish("alerts", [("A", b"a0")])
    assert hub.sequence("quotes.enriched") == 3 and hub.sequence("alerts") == 1
    assert hub.channels == {"alerts": 1, "quotes.enriched": 3}
    snapshot = hub.snapshot("quotes.enriched", everything)
    assert [(d.instrument, d.sequence, d.payload) for d in snapshot] == [
        ("B", 2, b"q1"), ("A", 3, b"q2")]  # fmt: skip
    only_b = hub.snapshot("quotes.enriched", lambda c, i: i == "B")
    assert [d.instrument for d in only_b] == ["B"]
    assert hub.latest("alerts", "A").payload == b"a0" and hub.latest("alerts", "B") is None
    assert hub.instruments() == {"A": ["alerts", "quotes.enriched"], "B": ["quotes.enriched"]}


def test_the_encoder_sees_each_record_with_its_sequence_number():
    hub = Hub()
    piece = hub.publish("bars.1m", [("A", 10), ("B", 20)], lambda c, s, v: f"{c}{s}:{v}".encode())
    assert piece.body == b"bars.1m1:10,bars.1m2:20"


@given(st.lists(st.sampled_from(["A", "B", "C"]), max_size=60), st.integers(0, 70))
def test_replay_gives_exactly_the_wanted_records_after_a_sequence_number(instruments, after):
    hub = Hub(window=1_000)
    published = hub.publish("trades.enriched", [(i, i.encode()) for i in instruments]).deliveries
    wants = lambda channel, instrument: instrument != "C"  # noqa: E731
    replayed = hub.replay("trades.enriched", after, wants)
    assert replayed == [d for d in published if d.sequence > after and d.instrument != "C"]


def test_resume_from_before_the_window_is_refused_explicitly():
    hub = Hub(window=10)
    for i in range(25):
        hub.publish("bars.1m", [("A", str(i).encode())])
    assert [d.sequence for d in hub.replay("bars.1m", 15, everything)] == list(range(16, 26))
    with pytest.raises(ResumeGapError, match="resume after 14 asked, the oldest kept is 16"):
        hub.replay("bars.1m", 14, everything)


async def test_records_leaving_the_window_are_replayed_from_the_lake_journal(tmp_path):
    journal = Journal(LakeRoot.open(tmp_path), "e1", file_records=7)
    hub = Hub(window=10, journal=journal)
    for i in range(60):
        hub.publish("bars.1m", [("AB"[i % 2], str(i).encode())])
    await journal.close()
    with pytest.raises(ResumeGapError) as gap:
        hub.replay("bars.1m", 3, everything)
    older = await journal.read("bars.1m", 3, gap.value.first - 1, lambda c, i: i == "A")
    recent = hub.replay("bars.1m", gap.value.first - 1, lambda c, i: i == "A")
    assert [d.sequence for d in older + recent] == list(range(5, 61, 2))
    assert all(d.payload == str(d.sequence - 1).encode() for d in older + recent)
    files = sorted(p.name for p in (tmp_path / "gateway/epoch=e1/channel=bars.1m").iterdir())
    assert files[0] == f"{1:020d}-{7:020d}.parquet"


async def test_the_journal_says_when_it_does_not_hold_what_is_asked(tmp_path):
    journal = Journal(LakeRoot.open(tmp_path), "e1", file_records=5)
    hub = Hub(window=5, journal=journal)
    for _ in range(20):
        hub.publish("alerts", [("A", b"x")])
    await journal.close()
    assert len(await journal.read("alerts", 0, 15, everything)) == 15
    other_epoch = Journal(LakeRoot.open(tmp_path), "e2")
    with pytest.raises(ResumeGapError):
        await other_epoch.read("alerts", 0, 15, everything)


async def test_a_stalled_subscriber_overflows_and_never_delays_the_others():
    hub = Hub()
    stalled, fast = Subscription(everything, capacity=10), Subscription(everything)
    hub.subscribe(stalled)
    hub.subscribe(fast)
    received = []

    async def read():
        while len(received) < 1_000:
            received.extend(records(await fast.next()))

    reader = asyncio.create_task(read())
    for i in range(1_000):
        hub.publish("quotes.enriched", [("A", str(i).encode())])  # never awaits
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(reader, 5)
    assert [sequence for _, sequence, _ in received] == list(range(1, 1_001))
    assert stalled.overflowed and await stalled.next() == []


async def test_a_conflating_subscriber_gets_the_newest_record_per_instrument_when_behind():
    hub = Hub()
    subscription = Subscription(everything, capacity=5, conflate=True)
    hub.subscribe(subscription)
    for i in range(20):
        hub.publish("quotes.enriched", [("AB"[i % 2], str(i).encode())])
    first = records(await subscription.next())
    assert [payload for _, _, payload in first] == [b"0", b"1", b"2", b"3", b"4", b"18", b"19"]
    assert not subscription.overflowed


def test_a_subscription_takes_only_its_instruments_and_shares_whole_batches():
    hub = Hub()
    some = Subscription(lambda c, i: i in ("A", "B"))
    hub.subscribe(some)
    whole = hub.publish("quotes.enriched", [("A", b"1"), ("B", b"2")])
    hub.publish("quotes.enriched", [("A", b"3"), ("C", b"4")])
    queued = list(some._items)
    assert queued[0] is whole
    assert records(queued[1:]) == [("A", 3, b"3")]
    some.put(b'{"op":"x"}')
    some.put(Piece([]))
    assert some.queued == 3
    some.wants = lambda c, i: i == "C"
    hub.interests_changed(some)
    hub.publish("quotes.enriched", [("A", b"5"), ("C", b"6")])
    assert records(list(some._items)[-1:]) == [("C", 6, b"6")]
