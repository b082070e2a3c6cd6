"""The enrichment job as a polars batch job: the upper anchor for a whole-file run.

One-minute candles of the mid with ``group_by_dynamic``, SMA 20 and SMA 50 as
rolling means and RSI 14 (Wilder's smoothing as an exponential mean) on the
closed candles, joined back to each quote as of the last closed candle; the
move against the previous close at 5%. Writes Parquet, or JSON lines for a
``.jsonl`` output.
Usage: python -m benchmarks.peers.polars_batch QUOTES CLOSES_CSV OUTPUT
"""

from __future__ import annotations

import sys

import polars as pl


def main(quotes_path: str, closes_path: str, output: str) -> None:
    closes = pl.read_csv(closes_path).select("instrument", previous_close=pl.col("close"))
    quotes = (
        pl.scan_parquet(quotes_path)
        .select("instrument", "ts_event", "bid_price", "ask_price")
        .with_columns(mid=(pl.col("bid_price") + pl.col("ask_price")) / 2)
    )
    change = pl.col("close").diff().over("instrument")
    wilder = {"alpha": 1 / 14, "adjust": False}
    bars = (
        quotes.sort("instrument", "ts_event")
        .group_by_dynamic("ts_event", every="1m", group_by="instrument")
        .agg(close=pl.col("mid").last())
        .with_columns(ends=pl.col("ts_event").dt.offset_by("1m"))
        .with_columns(
            sma_20=pl.col("close").rolling_mean(20).over("instrument"),
            sma_50=pl.col("close").rolling_mean(50).over("instrument"),
            gain=change.clip(lower_bound=0).ewm_mean(**wilder).over("instrument"),
            loss=(-change).clip(lower_bound=0).ewm_mean(**wilder).over("instrument"),
        )
        .with_columns(rsi_14=100 * pl.col("gain") / (pl.col("gain") + pl.col("loss")))
        .select("instrument", "ends", "sma_20", "sma_50", "rsi_14")
        .sort("ends")
    )
    pct = (pl.col("mid") - pl.col("previous_close")) / pl.col("previous_close") * 100
    enriched = (
        quotes.sort("ts_event")
        .join_asof(bars, left_on="ts_event", right_on="ends", by="instrument", strategy="backward")
        .join(closes.lazy(), on="instrument", how="left")
        .with_columns(change_pct=pct)
        .with_columns(
            move=pl.when(pl.col("change_pct") >= 5)
            .then(pl.lit("Bullish"))
            .when(pl.col("change_pct") <= -5)
            .then(pl.lit("Bearish"))
            .when(pl.col("change_pct").is_not_null())
            .then(pl.lit("Neutral"))
        )
        .drop("ends")
    )
    if output.endswith(".jsonl"):
        enriched.sink_ndjson(output)
    else:
        enriched.sink_parquet(output)


if __name__ == "__main__":
    main(*sys.argv[1:4])
