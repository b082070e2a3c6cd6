"""The enrichment job as a competent user writes it in plain Python with msgspec.

Reads quotes from Parquet a batch at a time; per instrument, one-minute candles
of the mid, SMA 20 and SMA 50 and RSI 14 (Wilder) on closed candles, the move
against the previous close at 5%; writes one JSON line per quote.
Usage: python -m benchmarks.peers.plain_loop QUOTES CLOSES_CSV OUTPUT
"""

from __future__ import annotations

import csv
import sys
from collections import deque

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

MINUTE_NS = 60_000_000_000


class Line(msgspec.Struct):
    instrument: str
    ts_event: int
    bid_price: float | None
    ask_price: float | None
    mid: float | None
    previous_close: float | None
    change_pct: float | None
    move: str | None
    sma_20: float | None
    sma_50: float | None
    rsi_14: float | None


class Instrument:
    """Open candle and the indicators on closed ones."""

    def __init__(self) -> None:
        self.start = -1
        self.close = 0.0
        self.windows = {20: deque(), 50: deque()}
        self.sums = {20: 0.0, 50: 0.0}
        self.sma: dict[int, float | None] = {20: None, 50: None}
        self.last_close: float | None = None
        self.gains: list[float] = []
        self.avg_gain = self.avg_loss = 0.0
        self.rsi: float | None = None

    def add_mid(self, ts: int, mid: float) -> None:
        """Add a quote's mid at ``ts``; a new minute closes the candle before."""
        start = ts - ts % MINUTE_NS
        if start != self.start:
            if self.start >= 0:
                self.close_bar(self.close)
            self.start = start
        self.close = mid

    def close_bar(self, close: float) -> None:
        for n, window in self.windows.items():
            window.append(close)
            self.sums[n] += close
            if len(window) > n:
                self.sums[n] -= window.popleft()
            if len(window) == n:
                self.sma[n] = self.sums[n] / n
        if self.last_close is not None:
            change = close - self.last_close
            gain, loss = max(change, 0.0), max(-change, 0.0)
            if len(self.gains) < 14:
                self.gains.append(change)
                if len(self.gains) == 14:
                    self.avg_gain = sum(max(c, 0.0) for c in self.gains) / 14
                    self.avg_loss = sum(max(-c, 0.0) for c in self.gains) / 14
            else:
                self.avg_gain = (self.avg_gain * 13 + gain) / 14
                self.avg_loss = (self.avg_loss * 13 + loss) / 14
            if len(self.gains) == 14:
                total = self.avg_gain + self.avg_loss
                self.rsi = 100.0 * self.avg_gain / total if total else 0.0
        self.last_close = close


def main(quotes_path: str, closes_path: str, output: str) -> None:
    with open(closes_path) as source:
        closes = {row["instrument"]: float(row["close"]) for row in csv.DictReader(source)}
    state: dict[str, Instrument] = {}
    encoder = msgspec.json.Encoder()
    columns = ["instrument", "ts_event", "bid_price", "ask_price"]
    with open(output, "wb") as sink:
        for batch in pq.ParquetFile(quotes_path).iter_batches(65_536, columns=columns):
            names = batch.column(0).to_pylist()
            stamps = batch.column(1).cast(pa.int64()).to_pylist()
            bids, asks = batch.column(2).to_pylist(), batch.column(3).to_pylist()
            lines = []
            for name, ts, bid, ask in zip(names, stamps, bids, asks, strict=True):
                inst = state.get(name)
                if inst is None:
                    inst = state[name] = Instrument()
                mid = (bid + ask) / 2 if bid and ask else None
                if mid is not None:
                    inst.add_mid(ts, mid)
                close = closes.get(name)
                change = move = None
                if mid is not None and close:
                    change = (mid - close) / close * 100
                    move = "Bullish" if change >= 5 else "Bearish" if change <= -5 else "Neutral"
                lines.append(Line(name, ts, bid, ask, mid, close, change, move,
                                  inst.sma[20], inst.sma[50], inst.rsi))  # fmt: skip
            sink.write(encoder.encode_lines(lines))


if __name__ == "__main__":
    main(*sys.argv[1:4])
