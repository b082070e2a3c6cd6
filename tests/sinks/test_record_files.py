import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quoteflow.bus.base import Message
from quoteflow.events import Bar, Quote, from_batch, to_batch
from quoteflow.sinks import RecordFilesSink

S = 10**9


def quotes(first: int, count: int) -> pa.RecordBatch:
    rows = range(first, first + count)
    return to_batch([Quote("T", f"I{i % 3}", i * S, i * S, bid_price=float(i)) for i in rows])


def bar(minute: int) -> Bar:
    return Bar("T", "I0", minute * 60 * S, minute * 60 * S, "1m", 1.0, 2.0, 0.5, 1.5, 10.0, 3)


def messages(topic: str, values: list) -> list[Message]:
    sizes = [value.num_rows if isinstance(value, pa.RecordBatch) else 1 for value in values]
    return [
        Message(topic, 0, offset, "", value, size)
        for offset, (value, size) in enumerate(zip(values, sizes, strict=True))
    ]


@pytest.mark.parametrize("file_format", ["parquet", "arrow"])
async def test_files_sink_fills_row_groups_and_keeps_each_topics_order(tmp_path, file_format):
    sink = RecordFilesSink(("quotes", "bars.1m"), tmp_path, file_format, row_group_rows=100)
    for start in range(0, 450, 30):  # pieces smaller than a row group, with records between
        await sink.write(messages("quotes", [quotes(start, 30)]))
        await sink.write(messages("bars.1m", [bar(start), bar(start + 1)]))
    await sink.close()
    if file_format == "parquet":
        written = pq.ParquetFile(tmp_path / "quotes.parquet")
        assert [written.metadata.row_group(i).num_rows for i in range(4)] == [120, 120, 120, 90]
        table = written.read()
        bars = pq.read_table(tmp_path / "bars.1m.parquet")
    else:
        table = pa.ipc.open_file(tmp_path / "quotes.arrow").read_all()
        bars = pa.ipc.open_file(tmp_path / "bars.1m.arrow").read_all()
    assert [q.bid_price for q in from_batch(table)] == [float(i) for i in range(450)]
    assert [b.ts_event // (60 * S) for b in from_batch(bars)] == [
        minute for start in range(0, 450, 30) for minute in (start, start + 1)
    ]


async def test_files_sink_refuses_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="parquet or arrow"):
        RecordFilesSink(("quotes",), tmp_path, "csv")
