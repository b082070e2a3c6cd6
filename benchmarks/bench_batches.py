"""Records <-> Arrow batches: quoteflow's converters next to pyarrow's own from/to_pylist.

The baseline is what one writes without quoteflow: a dict per record
(``msgspec.structs.asdict``) and ``RecordBatch.from_pylist``; back, timestamps
cast to int64, ``to_pylist`` and a record built from each dict.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

from benchmarks.bench_normalize import RECV_NS, Result, alpaca_quote_frames, best_rates
from quoteflow.events import Quote, arrow_schema, from_batch, to_batch
from quoteflow.feeds.alpaca import parse_frame


def bench_batches(rounds: int, frames: int) -> list[Result]:
    records = [parse_frame(f, RECV_NS).events for f in alpaca_quote_frames(frames, 1000, seed=4)]
    schema = arrow_schema(Quote)
    total = sum(map(len, records))
    batches = [to_batch(r) for r in records]

    def ours_to() -> int:
        return sum(to_batch(r).num_rows for r in records)

    def base_to() -> int:
        return sum(
            pa.RecordBatch.from_pylist(list(map(msgspec.structs.asdict, r)), schema).num_rows
            for r in records
        )

    def ours_from() -> int:
        return sum(len(from_batch(b)) for b in batches)

    int_times = pa.schema(
        [f.with_type(pa.int64()) if pa.types.is_timestamp(f.type) else f for f in schema]
    )

    def base_from() -> int:
        return sum(len([Quote(**row) for row in b.cast(int_times).to_pylist()]) for b in batches)

    assert ours_to() == base_to() == ours_from() == total
    to_ours, to_base, from_ours, from_base = best_rates(
        rounds, ours_to, base_to, ours_from, base_from
    )
    return [
        Result("Quote records -> Arrow batch", total, to_ours, to_base),
        Result("Arrow batch -> Quote records", total, from_ours, from_base),
    ]
