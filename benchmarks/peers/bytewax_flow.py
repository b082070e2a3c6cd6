"""The enrichment job as a Bytewax dataflow: the stream-framework peer.

The same per-instrument work as :mod:`benchmarks.peers.plain_loop` (its
``Instrument`` and ``Line``), run by Bytewax: quotes read from Parquet into a
keyed stream, ``stateful_map`` per instrument, JSON lines out through its file sink.
Usage: python -m benchmarks.peers.bytewax_flow QUOTES CLOSES_CSV OUTPUT
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator

import bytewax.operators as op
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.connectors.files import FileSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from benchmarks.peers.plain_loop import Instrument, Line


def quotes(path: str) -> Iterator[tuple[str, tuple[int, float | None, float | None]]]:
    """Yield (instrument, (ts, bid, ask)) from the Parquet file, a batch at a time."""
    columns = ["instrument", "ts_event", "bid_price", "ask_price"]
    for batch in pq.ParquetFile(path).iter_batches(65_536, columns=columns):
        names = batch.column(0).to_pylist()
        stamps = batch.column(1).cast(pa.int64()).to_pylist()
        bids, asks = batch.column(2).to_pylist(), batch.column(3).to_pylist()
        yield from zip(names, zip(stamps, bids, asks, strict=True), strict=True)


def main(quotes_path: str, closes_path: str, output: str) -> None:
    with open(closes_path) as source:
        closes = {row["instrument"]: float(row["close"]) for row in csv.DictReader(source)}
    encode = msgspec.json.Encoder().encode

    def enrich(inst: Instrument | None, quote: tuple) -> tuple[Instrument, Line]:
        inst = inst or Instrument()
        ts, bid, ask = quote
        mid = (bid + ask) / 2 if bid and ask else None
        if mid is not None:
            inst.add_mid(ts, mid)
        return inst, (ts, bid, ask, mid, inst.sma[20], inst.sma[50], inst.rsi)

    def line(item: tuple[str, tuple]) -> tuple[str, str]:
        name, (ts, bid, ask, mid, sma_20, sma_50, rsi_14) = item
        close = closes.get(name)
        change = move = None
        if mid is not None and close:
            change = (mid - close) / close * 100
            move = "Bullish" if change >= 5 else "Bearish" if change <= -5 else "Neutral"
        text = encode(Line(name, ts, bid, ask, mid, close, change, move, sma_20, sma_50, rsi_14))
        return name, text.decode()  # the file sink takes (key, line)

    flow = Dataflow("enrich")
    stream = op.input("quotes", flow, TestingSource(quotes(quotes_path), batch_size=1000))
    enriched = op.stateful_map("enrich", stream, enrich)
    op.output("out", op.map("json", enriched, line), FileSink(output))
    run_main(flow)


if __name__ == "__main__":
    main(*sys.argv[1:4])
