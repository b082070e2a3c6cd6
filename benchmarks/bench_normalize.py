"""Decode + normalize throughput per provider, quoteflow next to a json.loads baseline.

Both sides do the same work: bytes in, one normalized record per message out,
with timestamps as integer nanoseconds. The baseline is what one writes without
quoteflow: ``json.loads`` and a dict per record with renamed fields, with a
hand-rolled timestamp parse; it validates nothing, quoteflow validates every field. Results are
records per second on one core (the process is pinned to one CPU), best of
several rounds, and the ratio of the two in the same run.
"""

from __future__ import annotations

import calendar
import gc
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from quoteflow.events import to_batch
from quoteflow.feeds.alpaca import parse_frame as alpaca_frame
from quoteflow.feeds.alpaca.schemas import AlpacaMessage
from quoteflow.feeds.deribit import parse_frame as deribit_frame
from quoteflow.feeds.deribit.schemas import DeribitNotification
from quoteflow.feeds.ig import parse_message as ig_message

RECV_NS = 1_700_000_000_000_000_000


@dataclass
class Result:
    """One benchmark case: records per second for quoteflow and the baseline."""

    name: str
    records: int
    quoteflow_per_s: float
    baseline_per_s: float
    decode_only_per_s: float | None = None

    @property
    def ratio(self) -> float:
        return self.quoteflow_per_s / self.baseline_per_s


def best_rates(rounds: int, *works: Callable[[], int]) -> list[float]:
    """Return each work's best records/s over ``rounds``; works take turns in every round.

    Taking turns keeps the comparison fair on a machine whose speed drifts.
    """
    best = [0.0] * len(works)
    for _ in range(rounds):
        for i, work in enumerate(works):
            gc.collect()
            started = time.perf_counter()
            count = work()
            best[i] = max(best[i], count / (time.perf_counter() - started))
    return best


def alpaca_quote_frames(frames: int, per_frame: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    symbols = ["AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "GOOG", "AMD"]
    out = []
    for _ in range(frames):
        messages = [
            {
                "T": "q",
                "S": rng.choice(symbols),
                "bx": "V",
                "bp": round(rng.uniform(100, 200), 2),
                "bs": rng.randint(1, 9),
                "ax": "V",
                "ap": round(rng.uniform(200, 201), 2),
                "as": rng.randint(1, 9),
                "t": f"2024-05-06T14:{rng.randint(30, 59)}:{rng.randint(10, 59)}."
                f"{rng.randint(0, 999_999_999):09d}Z",
                "c": ["R"],
                "z": "C",
            }
            for _ in range(per_frame)
        ]
        out.append(json.dumps(messages, separators=(",", ":")).encode())
    return out


def baseline_timestamp_ns(text: str) -> int:
    """Hand-rolled parse of "YYYY-MM-DDTHH:MM:SS[.f]Z": fast, and validates nothing."""
    seconds = calendar.timegm(
        (int(text[0:4]), int(text[5:7]), int(text[8:10]),
         int(text[11:13]), int(text[14:16]), int(text[17:19]), 0, 0, 0)
    )  # fmt: skip
    fraction = text[20:-1] if text[19] == "." else ""
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def alpaca_baseline(frame: bytes) -> list[dict]:
    return [
        {
            "provider": "ALPACA",
            "instrument": m["S"],
            "ts_event": baseline_timestamp_ns(m["t"]),
            "ts_recv": RECV_NS,
            "bid_price": float(m["bp"]),
            "bid_size": float(m["bs"]),
            "ask_price": float(m["ap"]),
            "ask_size": float(m["as"]),
            "bid_exchange": m.get("bx"),
            "ask_exchange": m.get("ax"),
            "conditions": m.get("c"),
            "tape": m.get("z"),
        }
        for m in json.loads(frame)
    ]


def bench_alpaca(rounds: int, frames: int, per_frame: int, *, arrow: bool = True) -> list[Result]:
    """Alpaca quote frames -> records, and (``arrow``) -> one Arrow batch per frame."""
    data = alpaca_quote_frames(frames, per_frame)
    total = frames * per_frame

    def quoteflow_events() -> int:
        return sum(len(alpaca_frame(f, RECV_NS).events) for f in data)

    def quoteflow_batches() -> int:
        return sum(to_batch(alpaca_frame(f, RECV_NS).events).num_rows for f in data)

    def baseline() -> int:
        return sum(len(alpaca_baseline(f)) for f in data)

    decoder = msgspec.json.Decoder(list[AlpacaMessage])

    def decode_only() -> int:
        return sum(len(decoder.decode(f)) for f in data)

    assert quoteflow_events() == baseline() == decode_only() == total
    works = [quoteflow_events, baseline, decode_only] + ([quoteflow_batches] if arrow else [])
    rates = best_rates(rounds, *works)
    name = f"Alpaca quotes, {per_frame}-message frames"
    results = [Result(f"{name} -> records", total, rates[0], rates[1], rates[2])]
    if arrow:
        results.append(Result(f"{name} -> Arrow batch", total, rates[3], rates[1]))
    return results


DERIBIT_TICKER = {
    "best_ask_amount": 80980, "best_ask_price": 35406.5, "best_bid_amount": 1460,
    "best_bid_price": 35406, "current_funding": 0.00032169, "estimated_delivery_price": 35386.52,
    "funding_8h": 0.00043324, "index_price": 35386.52, "instrument_name": "BTC-PERPETUAL",
    "interest_value": 0.10242901739473433, "last_price": 35406, "mark_price": 35406.75,
    "max_price": 35937.79, "min_price": 34875.59, "open_interest": 732616360,
    "settlement_price": 35320.3, "state": "open",
    "stats": {"high": 36030, "low": 34102, "price_change": 2.9244, "volume": 24605.14153068,
              "volume_notional": 863326930, "volume_usd": 863326930},
    "timestamp": 1698922852775,
}  # fmt: skip


def deribit_baseline(frame: bytes) -> dict:
    data = json.loads(frame)["params"]["data"]
    stats = data.get("stats") or {}
    greeks = data.get("greeks") or {}
    return {
        "provider": "DERIBIT",
        "instrument": data["instrument_name"],
        "ts_event": data["timestamp"] * 1_000_000,
        "ts_recv": RECV_NS,
        "state": data.get("state"),
        **{
            name: data.get(raw)
            for name, raw in [
                ("bid_price", "best_bid_price"),
                ("bid_size", "best_bid_amount"),
                ("ask_price", "best_ask_price"),
                ("ask_size", "best_ask_amount"),
                ("bid_iv", "bid_iv"),
                ("ask_iv", "ask_iv"),
                ("mark_iv", "mark_iv"),
                ("last_price", "last_price"),
                ("mark_price", "mark_price"),
                ("index_price", "index_price"),
                ("min_price", "min_price"),
                ("max_price", "max_price"),
                ("settlement_price", "settlement_price"),
                ("estimated_delivery_price", "estimated_delivery_price"),
                ("delivery_price", "delivery_price"),
                ("underlying_index", "underlying_index"),
                ("underlying_price", "underlying_price"),
                ("current_funding", "current_funding"),
                ("funding_8h", "funding_8h"),
                ("open_interest", "open_interest"),
            ]
        },
        "volume_24h": stats.get("volume"),
        "volume_usd_24h": stats.get("volume_usd"),
        "price_change_pct_24h": stats.get("price_change"),
        "high_24h": stats.get("high"),
        "low_24h": stats.get("low"),
        **{g: greeks.get(g) for g in ("delta", "gamma", "vega", "theta", "rho")},
        "interest_rate": data.get("interest_rate", data.get("interest_value")),
    }


def bench_deribit(rounds: int, count: int) -> Result:
    rng = random.Random(2)
    data = [
        msgspec.json.encode(
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {
                    "channel": "ticker.BTC-PERPETUAL.100ms",
                    "data": {**DERIBIT_TICKER, "mark_price": round(rng.uniform(3e4, 4e4), 2)},
                },
            }
        )
        for _ in range(count)
    ]

    def quoteflow() -> int:
        return sum(len(deribit_frame(f, RECV_NS).events) for f in data)

    def baseline() -> int:
        return sum(1 for f in data if deribit_baseline(f))

    decoder = msgspec.json.Decoder(DeribitNotification)

    def decode_only() -> int:
        return sum(1 for f in data if decoder.decode(f))

    assert quoteflow() == baseline() == decode_only() == count
    return Result(
        "Deribit ticker notifications, one per frame",
        count,
        *best_rates(rounds, quoteflow, baseline, decode_only),
    )


IG_UPDATE = {
    "BID": "35328.9", "OFR": "35418.9", "LTV": "1", "UTM": "1698930198693",
    "DAY_OPEN_MID": "35416.9", "DAY_NET_CHG_MID": "-43", "DAY_PERC_CHG_MID": "-0.12",
    "DAY_HIGH": "35999.7", "DAY_LOW": "35032.7", "LTP": "", "TTV": "", "MARKET_STATE": "TRADEABLE",
}  # fmt: skip
IG_NUMBERS = {
    "BID": "bid_price", "OFR": "ask_price", "LTP": "last_price", "LTV": "last_size",
    "TTV": "volume", "DAY_OPEN_MID": "day_open_mid", "DAY_NET_CHG_MID": "day_net_change_mid",
    "DAY_PERC_CHG_MID": "day_percent_change_mid", "DAY_HIGH": "day_high", "DAY_LOW": "day_low",
}  # fmt: skip


def ig_baseline(line: bytes) -> dict:
    update = json.loads(line)
    record = {
        "provider": "IG",
        "instrument": "CS.D.BITCOIN.CFE.IP",
        "ts_event": int(update["UTM"]) * 1_000_000,
        "ts_recv": RECV_NS,
        "market_state": update.get("MARKET_STATE") or None,
    }
    for field, name in IG_NUMBERS.items():
        value = update.get(field)
        record[name] = float(value) if value else None
    return record


def bench_ig(rounds: int, count: int) -> Result:
    rng = random.Random(3)
    data = [
        msgspec.json.encode({**IG_UPDATE, "BID": f"{rng.uniform(35000, 36000):.1f}"})
        for _ in range(count)
    ]
    decode = msgspec.json.Decoder(dict[str, str | None])

    def quoteflow() -> int:
        return sum(
            len(ig_message(decode.decode(line), RECV_NS, instrument="CS.D.BITCOIN.CFE.IP"))
            for line in data
        )

    def baseline() -> int:
        return sum(1 for line in data if ig_baseline(line))

    assert quoteflow() == baseline() == count
    return Result(
        "IG MARKET updates, one per message",
        count,
        *best_rates(rounds, quoteflow, baseline),
    )


def run_all(rounds: int = 7, scale: float = 1.0) -> list[Result]:
    """Run every case; ``scale`` shrinks or grows the data sizes."""
    n = max(1, int(200 * scale))
    return [
        *bench_alpaca(rounds, frames=n, per_frame=1000),
        *bench_alpaca(rounds, frames=n * 10, per_frame=100),
        *bench_alpaca(rounds, frames=n * 50, per_frame=1, arrow=False),
        bench_deribit(rounds, count=n * 100),
        bench_ig(rounds, count=n * 100),
    ]
