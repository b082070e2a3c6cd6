import csv
import gzip
import io
import json
import os
import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.events import DeadLetter, Quote, Trade, from_batch
from quoteflow.lake import LakeRoot, LakeWriter, Partition
from quoteflow.lake.coalesce import coalesce, pending_days, raw_files, read_chunk
from quoteflow.lake.layout import refined_path
from quoteflow.lake.retention import expire
from quoteflow.lake.writer import NULL_COLUMNS_KEY, chunk_bytes
from tests.lake.conftest import market_events

DAY = date(2024, 4, 1)


def record(lake, source, events, chunk_rows=200):
    writer = LakeWriter(lake, source, chunk_rows=chunk_rows)
    for start in range(0, len(events), 25):
        writer.add(events[start : start + 25])
    writer.flush()


def refined(lake, partition=None):
    rows = []
    for partition_, _ in sorted(raw_files(lake).items()):
        if partition in (None, partition_):
            rows += from_batch(pq.read_table(lake.join(refined_path(partition_))))
    return rows


def canonical(events):
    return sorted(events, key=lambda e: (type(e).__name__, e.instrument, e.ts_event, e.ts_recv))


def with_recv(events, shift):
    return [msgspec.structs.replace(e, ts_recv=e.ts_recv + shift) for e in events]


def slices(events, seed):
    """Return the indices of random 5% of the events, as a few contiguous slices."""
    rng = random.Random(seed)
    missing = set()
    while len(missing) < len(events) // 20:
        start = rng.randrange(len(events))
        missing.update(range(start, min(start + rng.randint(1, 40), len(events))))
    return missing


def test_primary_and_replica_missing_different_slices_coalesce_to_the_full_feed(lake):
    events = market_events(1800)
    lost_by_primary = slices(events, 1)
    lost_by_replica = {i for i in slices(events, 2) if i not in lost_by_primary}
    primary = [e for i, e in enumerate(events) if i not in lost_by_primary]
    # the replica received everything a little later: different ts_recv, same events
    replica = with_recv([e for i, e in enumerate(events) if i not in lost_by_replica], 1_000)
    record(lake, "primary", primary)
    record(lake, "replica", replica)
    reports = coalesce(lake, DAY)
    # primary's rows wherever it has them, the replica's (its ts_recv) where it has not
    expected = [with_recv([e], 1_000)[0] if i in lost_by_primary else e
                for i, e in enumerate(events)]  # fmt: skip
    assert canonical(refined(lake)) == canonical(expected)
    assert sum(r.replica_only for r in reports) == len(lost_by_primary)
    assert sum(r.primary_only for r in reports) == len(lost_by_replica)
    assert sum(r.total for r in reports) == len(events)
    first = pq.read_table(lake.join(refined_path(reports[0].partition)))
    assert first.column("ts_event").to_pylist() == sorted(first.column("ts_event").to_pylist())


def test_coalescing_twice_gives_the_same_rows_and_duplicated_chunks_count_once(lake):
    events = market_events(900)
    record(lake, "primary", events, chunk_rows=150)
    record(lake, "primary", events[100:400], chunk_rows=77)  # a replay wrote part again
    coalesce(lake, DAY)
    once = refined(lake)
    coalesce(lake, DAY)
    assert refined(lake) == once
    assert canonical(once) == canonical(events)


def test_coalescing_on_several_threads_gives_what_one_thread_gives(lake):
    events = market_events(600, instruments=("A", "B/C", "D", "E"))
    record(lake, "primary", events[::2] + events[1::4])
    record(lake, "replica", with_recv(events[1::2] + events[::4], 7))
    seen = []
    one = coalesce(lake, DAY, threads=1)
    single = refined(lake)
    shutil.rmtree(lake.join("refined"))  # a first coalesce again, not one of an up-to-date day
    many = coalesce(lake, DAY, threads=3, progress=lambda done, total: seen.append((done, total)))
    assert refined(lake) == single
    assert len(single) == len(events)
    assert [(r.partition, r.primary_only, r.replica_only, r.both) for r in many] == [
        (r.partition, r.primary_only, r.replica_only, r.both) for r in one
    ]
    assert seen == [(k, 8) for k in range(1, 9)]


def test_repeated_identical_events_are_kept_as_often_as_a_source_saw_them(lake):
    q = Quote("T", "A", 1_711_980_000_000_000_000, 1_711_980_000_000_000_100, bid_price=1.0,
              ask_price=1.1)  # fmt: skip
    again = msgspec.structs.replace(q, ts_recv=q.ts_recv + 5)  # same quote, sent twice
    record(lake, "primary", [q])
    record(lake, "replica", with_recv([q, again], 1))
    (report,) = coalesce(lake, DAY)
    assert (report.primary_only, report.replica_only, report.both) == (0, 1, 1)
    assert [e.ts_recv for e in refined(lake)] == [q.ts_recv, again.ts_recv + 1]


def test_corrupt_and_truncated_chunks_are_reported_and_skipped(lake):
    events = [e for e in market_events(900) if e.instrument == "A" and isinstance(e, Quote)]
    record(lake, "primary", events, chunk_rows=100)
    paths = raw_files(lake)[Partition("SYNTHETIC", "quotes", "A", DAY)]["primary"]
    lost = sum(pq.read_metadata(path).num_rows for path in paths[1:3])
    with open(paths[1], "r+b") as f:
        f.truncate(200)
    with open(paths[2], "wb") as f:
        f.write(b"not parquet at all")
    (report,) = coalesce(lake, DAY)
    assert [reason.split(":")[0] for _, reason in report.skipped] == ["unreadable", "unreadable"]
    assert report.total == len(events) - lost > 0
    assert len(refined(lake)) == len(events) - lost


def test_a_chunk_with_bad_null_column_metadata_is_reported_and_skipped(lake):
    table = pa.table({"text": pa.array(["a", None])})
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata({NULL_COLUMNS_KEY: b'{"text"'}), sink)
    path = lake.join("chunk.parquet")
    lake.write_atomic(path, sink.getvalue())
    with pytest.raises(ValueError, match=r"bad quoteflow\.null_columns metadata"):
        read_chunk(lake, path, table.schema)


def test_pending_days_and_retention_only_delete_refined_days(lake):
    events = market_events(300)
    record(lake, "primary", events)
    later = [msgspec.structs.replace(e, ts_event=e.ts_event + 86_400 * 10**9) for e in events]
    record(lake, "primary", later)
    assert pending_days(lake, date(2024, 4, 3)) == [DAY, DAY + timedelta(days=1)]
    assert pending_days(lake, date(2024, 4, 2)) == [DAY]
    coalesce(lake, DAY)
    assert pending_days(lake, date(2024, 4, 3)) == [DAY + timedelta(days=1)]
    before = [lake.relative(f.path) for f in lake.files("raw")]
    dry = expire(lake, timedelta(days=30), date(2024, 6, 1), dry_run=True)
    assert sorted(dry.deleted) == sorted(p for p in before if "/day=1/" in p)
    assert len(dry.kept) == 4  # the four partitions of April 2 have no refined file
    assert len(lake.files("raw")) == len(before)
    report = expire(lake, timedelta(days=30), date(2024, 6, 1))
    assert report.deleted == dry.deleted
    assert all("/day=2/" in f.path for f in lake.files("raw"))
    assert expire(lake, timedelta(days=30), date(2024, 4, 20)).deleted == []


def test_dead_letters_expire_by_their_own_age_and_only_when_asked(lake):
    day_ns = 1_711_929_600_000_000_000  # 2024-04-01 00:00 UTC
    writer = LakeWriter(lake)
    writer.add([DeadLetter("ALPACA", "normalize", day_ns + n * 86_400 * 10**9, "bp", "bad", "{}")
                for n in range(3)])  # fmt: skip
    writer.flush()
    paths = sorted(lake.relative(info.path) for info in lake.files("dead_letters"))
    assert len(paths) == 3
    assert expire(lake, timedelta(days=1), date(2024, 6, 1)).deleted == []
    june_2, sixty_days = date(2024, 6, 2), timedelta(days=60)  # cutoff April 3
    dry = expire(lake, timedelta(days=1), june_2, dead_letters_older_than=sixty_days, dry_run=True)
    assert dry.deleted == paths[:2]  # received April 1 and 2
    assert len(lake.files("dead_letters")) == 3
    report = expire(lake, timedelta(days=1), june_2, dead_letters_older_than=sixty_days)
    assert report.deleted == paths[:2]
    assert [lake.relative(info.path) for info in lake.files("dead_letters")] == paths[2:]


def test_retention_keeps_days_whose_refined_file_is_unreadable(lake):
    record(lake, "primary", market_events(300))
    (report, *_) = coalesce(lake, DAY)
    with open(lake.join(refined_path(report.partition)), "wb") as f:
        f.write(b"broken")
    result = expire(lake, timedelta(days=1), date(2024, 6, 1))
    assert report.partition in result.kept


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60), st.integers())
def test_coalesce_is_the_union_of_what_either_source_saw(tmp_path_factory, seen, seed):
    from quoteflow.lake import LakeRoot

    lake = LakeRoot.open(tmp_path_factory.mktemp("lake"))
    events = market_events(120, instruments=("A",), seed=abs(seed) % 1000)[: len(seen)]
    seen = seen[: len(events)]
    primary = [e for e, (p, _) in zip(events, seen, strict=True) if p]
    replica = with_recv([e for e, (_, r) in zip(events, seen, strict=True) if r], 7)
    record(lake, "primary", primary, chunk_rows=5)
    record(lake, "replica", replica, chunk_rows=7)
    coalesce(lake, DAY)
    expected = [e for e, (p, r) in zip(events, seen, strict=True) if p or r]
    got = refined(lake) if raw_files(lake) else []
    assert len(got) == len(expected)
    assert {(type(e), e.ts_event) for e in got} == {(type(e), e.ts_event) for e in expected}


_maybe_text = st.one_of(st.none(), st.sampled_from(["", "X", "XY", "é"]))
_maybe_float = st.one_of(st.none(), st.sampled_from([0.0, 1.5, float("nan"), float("inf")]))
_maybe_list = st.one_of(st.none(), st.lists(st.sampled_from(["", "a"]), max_size=2))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_maybe_text, _maybe_float, _maybe_list), min_size=1, max_size=12),
    row_group_size=st.integers(1, 12),
    by_lake_writer=st.booleans(),
)
def test_reading_a_chunk_from_its_metadata_gives_what_decoding_it_gives(
    tmp_path_factory, rows, row_group_size, by_lake_writer
):
    lake = LakeRoot.open(tmp_path_factory.mktemp("lake"))
    schema = pa.schema([("text", pa.string()), ("price", pa.float64()),
                        ("conditions", pa.list_(pa.string()))])  # fmt: skip
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema
    )
    path = lake.join("chunk.parquet")
    if by_lake_writer:  # names the null columns and hands over repeated strings as dictionaries
        lake.write_atomic(path, chunk_bytes(table))
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, row_group_size=row_group_size)
        lake.write_atomic(path, sink.getvalue())
    read = read_chunk(lake, path, schema)
    assert read.schema == schema
    # compared as text so that NaN equals NaN
    assert repr(read.to_pylist()) == repr(pq.read_table(path).to_pylist())


def test_csv_export_writes_lists_as_json(lake, tmp_path):
    ts = 1_711_980_000_000_000_000
    trades = [Trade("ALPACA", "AAPL", ts + i, ts + i, 100.0 + i, 1.0, trade_id=str(i),
                    conditions=("@", "I")) for i in range(5)]  # fmt: skip
    record(lake, "primary", trades)
    csv_root = LakeRoot.open(tmp_path / "csv")
    (report,) = coalesce(lake, DAY, csv_root=csv_root)
    assert report.total == 5
    (exported,) = [info.path for info in csv_root.files("")]
    text = gzip.decompress(Path(exported).read_bytes()).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [json.loads(row["conditions"]) for row in rows] == [["@", "I"]] * 5
    assert not [p for p in os.listdir(tmp_path / "csv") if p.startswith(".")]


def test_csv_export_is_all_or_nothing(lake, tmp_path, monkeypatch):
    record(lake, "primary", market_events(300))
    import quoteflow.lake.coalesce as module

    real = module.coalesce_partition
    calls = []

    def failing_on_the_second(*args):
        calls.append(args[1])
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args)

    monkeypatch.setattr(module, "coalesce_partition", failing_on_the_second)
    with pytest.raises(OSError, match="disk full"):
        coalesce(lake, DAY, csv_root=LakeRoot.open(tmp_path / "csv"), threads=1)
    exported = tmp_path / "csv"
    assert not exported.exists() or [p for p in exported.rglob("*") if p.is_file()] == []


def _trades(count, **fields):
    ts = 1_711_980_000_000_000_000
    return [Trade("ALPACA", "AAPL", ts + i * 1_000, ts + i * 1_000 + 9, 100.0 + i, 1.0 + i,
                  **{k: (v(i) if callable(v) else v) for k, v in fields.items()})
            for i in range(count)]  # fmt: skip


def test_ingesters_that_disagree_on_optional_fields_never_double_a_row(lake):
    full = _trades(50, trade_id=str, exchange="V", conditions=("@", "I"), tape="C")
    lacking = [msgspec.structs.replace(t, exchange=None, conditions=None, ts_recv=t.ts_recv + 5)
               for t in full]  # fmt: skip
    record(lake, "primary", full)
    record(lake, "replica", lacking)
    (report,) = coalesce(lake, DAY)
    assert (report.total, report.both, report.conflicts) == (50, 50, 0)
    kept = refined(lake)
    assert sorted(t.trade_id for t in kept) == sorted(str(i) for i in range(50))
    assert {(t.exchange, t.conditions) for t in kept} == {("V", ("@", "I"))}


def test_the_replica_fills_the_primarys_gaps_and_conflicts_are_counted(lake):
    full = _trades(20, trade_id=str, exchange="V", tape="C")
    gappy = [msgspec.structs.replace(t, exchange=None) for t in full[:10]] + full[10:]
    differing = [msgspec.structs.replace(t, tape="A" if i < 3 else t.tape, ts_recv=t.ts_recv + 1)
                 for i, t in enumerate(full)]  # fmt: skip
    record(lake, "primary", gappy)
    record(lake, "replica", differing)
    (report,) = coalesce(lake, DAY)
    assert (report.total, report.conflicts) == (20, 3)
    kept = sorted(refined(lake), key=lambda t: t.ts_event)
    assert [t.exchange for t in kept] == ["V"] * 20  # gaps filled from the replica
    assert [t.tape for t in kept] == ["C"] * 20  # the primary wins a conflict
