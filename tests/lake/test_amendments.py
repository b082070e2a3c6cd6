"""Trade corrections and cancels are recorded, and coalescing applies them to the refined day."""

from datetime import date, timedelta

import pyarrow.parquet as pq

from quoteflow.events import Trade, TradeCancel, TradeCorrection
from quoteflow.lake import LakeWriter
from quoteflow.lake.coalesce import coalesce, pending_days
from quoteflow.lake.query import Lake
from quoteflow.lake.retention import expire

from .conftest import S

DAY = date(2024, 4, 1)
T0 = 1_711_978_200 * S  # 2024-04-01 13:30 UTC


def _trades(n: int = 5) -> list[Trade]:
    return [Trade("ALPACA", "AAPL", T0 + i * S, T0 + i * S + 1, 100.0 + i, 10.0, str(1000 + i),
                  "P", ("@",)) for i in range(n)]  # fmt: skip


def _correction(trade_id: int, price: float, size: float, recv: int) -> TradeCorrection:
    index = trade_id - 1000
    return TradeCorrection("ALPACA", "AAPL", T0 + index * S, T0 + recv * S, 100.0 + index, 10.0,
                           price, size, str(trade_id), str(trade_id + 500), ("@",), ("@", "Z"),
                           "P")  # fmt: skip


def _cancel(trade_id: int, recv: int) -> TradeCancel:
    index = trade_id - 1000
    return TradeCancel("ALPACA", "AAPL", T0 + index * S, T0 + recv * S, 100.0 + index, 10.0,
                       "cancel", str(trade_id), "P")  # fmt: skip


def _record(lake, records, sources=("primary", "replica")) -> None:
    for source in sources:
        writer = LakeWriter(lake, source=source)
        writer.add(records)
        writer.flush()


def _refined_trades(lake) -> list[tuple]:
    rows = Lake(lake).read_sql(
        "SELECT trade_id, price, size, conditions FROM trades ORDER BY ts_event"
    )
    return [tuple(r.values()) for r in rows.to_pylist()]


def test_coalescing_applies_corrections_and_leaves_cancelled_trades_out(lake):
    _record(lake, _trades())
    _record(lake, [_correction(1001, 101.5, 12.0, 60), _cancel(1003, 61)])
    reports = {r.partition.type: r for r in coalesce(lake, DAY)}
    trades = reports["trades"]
    assert (trades.corrected, trades.cancelled, trades.unmatched, trades.total) == (1, 1, 0, 4)
    assert _refined_trades(lake) == [
        ("1000", 100.0, 10.0, ["@"]),
        ("1501", 101.5, 12.0, ["@", "Z"]),
        ("1002", 102.0, 10.0, ["@"]),
        ("1004", 104.0, 10.0, ["@"]),
    ]
    raw = Lake(lake).read_sql("SELECT count(*) AS n FROM raw_trades WHERE source = 'primary'")
    assert raw.column("n")[0].as_py() == 5  # the trades as first reported
    assert reports["trades_corrections"].total == 1 and reports["trades_cancels"].total == 1
    [again] = [r for r in coalesce(lake, DAY) if r.partition.type == "trades"]
    assert (again.total, _refined_trades(lake)[1][1]) == (4, 101.5)  # up to date, unchanged


def test_a_late_correction_refines_a_day_whose_trade_chunks_have_expired(lake):
    _record(lake, _trades())
    coalesce(lake, DAY)
    expire(lake, timedelta(days=1), DAY + timedelta(days=3))
    assert not lake.files("raw")
    _record(lake, [_correction(1002, 99.0, 1.0, 86_000), _correction(1502, 98.0, 2.0, 86_001)],
            sources=("primary",))  # fmt: skip
    assert pending_days(lake, DAY + timedelta(days=3)) == [DAY]
    reports = {r.partition.type: r for r in coalesce(lake, DAY)}
    assert (reports["trades"].corrected, reports["trades"].total) == (2, 5)
    assert _refined_trades(lake)[2] == ("2002", 98.0, 2.0, ["@", "Z"])  # corrected twice, in order


def test_a_cancel_that_names_no_trade_is_counted_and_changes_nothing(lake):
    _record(lake, _trades(2))
    _record(lake, [_cancel(1999, 60)])
    [trades] = [r for r in coalesce(lake, DAY) if r.partition.type == "trades"]
    assert (trades.cancelled, trades.unmatched, trades.total) == (0, 1, 2)


def test_amendments_survive_a_refined_trades_file_read_by_other_tools(lake):
    _record(lake, _trades(3))
    _record(lake, [_cancel(1000, 60)])
    coalesce(lake, DAY)
    [path] = [i.path for i in lake.files("refined") if "type=trades/" in i.path]
    assert pq.read_table(path).column("trade_id").to_pylist() == ["1001", "1002"]
