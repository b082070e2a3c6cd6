import pytest

from quoteflow.events import Quote, Trade
from quoteflow.feeds.replay import ReplayFeed
from quoteflow.formats.records import write_records

S = 10**9


@pytest.fixture
def files(tmp_path):
    quotes = [Quote("T", "A", ts * S, ts * S + 1, bid_price=1.0, ask_price=1.1) for ts in (0, 2, 6)]
    trades = [Trade("T", "A", ts * S, ts * S + 1, price=1.05, size=3.0) for ts in (1, 4)]
    write_records(tmp_path / "q.parquet", quotes)
    write_records(tmp_path / "t.csv", trades)
    return [tmp_path / "q.parquet", tmp_path / "t.csv"]


def fake_time():
    now = [0.0]
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    return (lambda: now[0]), sleep, slept


async def test_replay_merges_files_by_event_time(files):
    feed = ReplayFeed(files, speed=None)
    events = [e async for b in feed.stream() for e in b.records()]
    assert [e.ts_event // S for e in events] == [0, 1, 2, 4, 6]
    assert [type(e) for e in events] == [Quote, Trade, Quote, Trade, Quote]


async def test_replay_when_paced_keeps_gaps_divided_by_speed(files):
    clock, sleep, slept = fake_time()
    feed = ReplayFeed(files, speed=2.0, clock=clock, sleep=sleep)
    [b async for b in feed.stream()]
    assert slept == [0.5, 0.5, 1.0, 1.0]


async def test_replay_when_fast_never_sleeps_on_the_clock(files):
    clock, sleep, slept = fake_time()
    feed = ReplayFeed(files, speed=None, clock=clock, sleep=sleep, batch_size=2)
    batches = [b async for b in feed.stream()]
    # files are read 2 records at a time; a step goes up to the time both files have reached
    assert [b.count for b in batches] == [3, 1, 1]
    assert slept == []


def test_replay_rejects_bad_speed(files):
    with pytest.raises(ValueError, match="speed"):
        ReplayFeed(files, speed=0)


async def test_replay_merges_two_files_of_one_type_and_sorts_a_file_out_of_order(tmp_path, caplog):
    early = [Trade("T", "A", ts * S, ts * S, price=float(ts), size=1.0) for ts in (1, 3, 5)]
    late = [Trade("T", "B", ts * S, ts * S, price=float(ts), size=1.0) for ts in (4, 2, 6)]
    write_records(tmp_path / "a.parquet", early)
    write_records(tmp_path / "b.parquet", late)
    feed = ReplayFeed([tmp_path / "a.parquet", tmp_path / "b.parquet"], speed=None, batch_size=1)
    steps = [b.interleaved async for b in feed.stream()]
    records = [r for step in steps for r in step.records()]
    assert [(r.instrument, r.price) for r in records] == [
        ("A", 1.0),
        ("B", 2.0),
        ("A", 3.0),
        ("B", 4.0),
        ("A", 5.0),
        ("B", 6.0),
    ]
    assert all(len(step.batches) == 1 for step in steps)  # one batch per record type
    assert "b.parquet is not in event-time order" in caplog.text
