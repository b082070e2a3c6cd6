"""The matching engine: operations per second on one core, next to the tests' reference book.

A realistic flow on one symbol, generated once with a fixed seed: 60% limit
orders within 5 ticks of the touch (a third of them crossing it), 22% cancels
of a random open order, 12% amends (half reduce the quantity, half re-price),
6% market orders; 50 traders. Both books get the same commands; the reference
book (``tests/exchange/reference_book.py``, a list searched at every step) only
the first part of the flow, as it slows down with the book's size.

Acknowledgement latency: ``quoteflow exchange serve`` on one core, orders sent
over HTTP from the other at a steady rate (open loop), each timed from sending
the request to reading the answer (the order's state after matching; every
order is committed to SQLite first, WAL without fsync, the default). The
client's garbage collector is off during the timed run: its pauses are the
client's, not the exchange's.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from quoteflow.events.exchange import (
    AcceptedOrder,
    Amend,
    Cancel,
    Command,
    OrderType,
    Side,
    Submit,
    TimeInForce,
)
from quoteflow.exchange.engine import Engine
from quoteflow.exchange.instruments import ExchangeInstrument

_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
ACME = ExchangeInstrument("ACME", Decimal("0.01"), Decimal("100.00"), band_pct=Decimal(20))
_MID = 10_000


BATCH = 10_000


@dataclass
class EngineFigures:
    """Operations per second of the engine and of the reference book, on the same flow;
    HTTP order -> acknowledgement latency at a steady rate.

    ``engine_per_s``: commands as rows in, what happened as rows out (the compiled
    loop); ``records_per_s``: commands in, records out, a batch at a time;
    ``per_command_per_s``: one call and its records per command.
    """

    operations: int
    engine_per_s: float
    records_per_s: float
    per_command_per_s: float
    reference_operations: int
    reference_per_s: float
    ack_rate_per_s: int
    ack_ms: tuple[float, float]
    ack_fsync_ms: tuple[float, float]


def flow(count: int, seed: int = 5) -> list[tuple]:
    """Return ``count`` commands numbered 1, 2, ...: (kind, sequence, ...) of each kind.

    ("submit", sequence, order) gives order id ``sequence``; ("cancel", sequence,
    order id, trader, time) and ("amend", sequence, order id, trader, time,
    quantity, price) name one.
    """
    rng = random.Random(seed)
    commands: list[tuple] = []
    owners: dict[int, str] = {}
    for now in range(count):
        sequence = now + 1
        roll = rng.random()
        if roll < 0.66 or not owners:
            trader = f"t{rng.randrange(50)}"
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            if roll > 0.60:
                order = AcceptedOrder(
                    "c",
                    trader,
                    "ACME",
                    side,
                    OrderType.MARKET,
                    rng.randint(1, 5),
                    None,
                    TimeInForce.IOC,
                    None,
                    now,
                )
            else:
                towards = rng.randint(-1, 4)  # > 0: away from the touch; -1: crossing
                price = _MID - towards if side is Side.BUY else _MID + towards
                order = AcceptedOrder(
                    "c",
                    trader,
                    "ACME",
                    side,
                    OrderType.LIMIT,
                    rng.randint(1, 10),
                    price,
                    TimeInForce.GTC,
                    None,
                    now,
                )
            commands.append(("submit", sequence, order))
            owners[sequence] = trader
        else:
            order_id = rng.choice(list(owners)[-200:])
            trader = owners[order_id]
            if roll < 0.88:
                commands.append(("cancel", sequence, order_id, trader, now))
                owners.pop(order_id)
            elif rng.random() < 0.5:
                commands.append(("amend", sequence, order_id, trader, now, 1, None))
            else:
                commands.append(("amend", sequence, order_id, trader, now, None,
                                 _MID + rng.randint(-4, 4)))  # fmt: skip
    return commands


def logged(commands: list[tuple]) -> list[tuple[int, Command]]:
    """Return the flow as the exchange's log: (sequence, command) pairs."""
    out: list[tuple[int, Command]] = []
    for kind, sequence, *rest in commands:
        if kind == "submit":
            out.append((sequence, Submit(rest[0])))
        elif kind == "cancel":
            out.append((sequence, Cancel("ACME", *rest)))
        else:
            out.append((sequence, Amend("ACME", *rest)))
    return out


def _run_rows(log: list[tuple[int, Command]]) -> float:
    """Time the compiled loop on the flow encoded as rows (encoding not timed), in batches."""
    engine = Engine({"ACME": ACME})
    batches = [engine.encode(log[start : start + BATCH]) for start in range(0, len(log), BATCH)]
    started = time.perf_counter()
    for rows in batches:
        engine.run(rows)
    return time.perf_counter() - started


def _apply_batches(log: list[tuple[int, Command]]) -> float:
    engine = Engine({"ACME": ACME})
    started = time.perf_counter()
    for start in range(0, len(log), BATCH):
        engine.apply_all(log[start : start + BATCH])
    return time.perf_counter() - started


def _apply_engine(engine: Engine, commands: list[tuple]) -> float:
    started = time.perf_counter()
    for command in commands:
        kind = command[0]
        if kind == "submit":
            engine.submit(command[1], command[2])
        elif kind == "cancel":
            engine.cancel(command[1], "ACME", *command[2:])
        else:
            engine.amend(command[1], "ACME", *command[2:5], quantity=command[5],
                         price=command[6])  # fmt: skip
    return time.perf_counter() - started


def _apply_reference(book, commands: list[tuple]) -> float:
    started = time.perf_counter()
    for command in commands:
        kind = command[0]
        if kind == "submit":
            book.submit(command[1], command[2])
        elif kind == "cancel":
            book.cancel(*command[2:])
        else:
            book.amend(*command[2:5], quantity=command[5], price=command[6])
    return time.perf_counter() - started


_LISTING = """
[[instruments]]
symbol = "ACME"
tick_size = "0.01"
reference_price = "100.00"
band_pct = 20
calendar = "24/7"
"""


async def _send_orders(url: str, key: str, rate: int, seconds: float,
                       run: str) -> list[float]:  # fmt: skip
    """Send ``rate`` orders a second (open loop) for ``seconds``; return each latency in ms.

    Client order ids start with ``run``, so that no order of a run is a retry of another's.
    """
    import aiohttp

    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        side = "buy" if n % 2 else "sell"
        price = f"{100 + rng.randint(-5, 5) / 100:.2f}"
        body = {"client_order_id": f"{run}{n}", "symbol": "ACME", "side": side,
                "quantity": rng.randint(1, 10), "price": price,
                "time_in_force": "IOC" if n % 3 == 0 else "GTC"}  # fmt: skip
        started = time.perf_counter()
        async with session.post(f"{url}/v1/orders", json=body, headers=headers) as answer:
            await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"order {n}: HTTP {answer.status}")
        latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        begun = time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begun + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
    return latencies


def ack_latency(rate: int = 1_000, seconds: float = 6.0, *,
                fsync: bool = False) -> tuple[float, float]:  # fmt: skip
    """Run ``quoteflow exchange serve`` on one core and time orders from the other one.

    ``fsync``: answers wait for the log to be on disk (group commit).
    """
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        (directory / "listing.toml").write_text(_LISTING)
        from quoteflow.access.keys import KeyStore

        _, key = KeyStore(directory / "keys.db").create("bench", channels=["*"],
                                                        instruments=["*"])  # fmt: skip
        env = {**os.environ, "QUOTEFLOW_GATEWAY__KEYS_DB": str(directory / "keys.db"),
               "QUOTEFLOW_EXCHANGE__FSYNC": str(fsync).lower()}  # fmt: skip
        command = [str(Path(sys.executable).parent / "quoteflow"), "exchange", "serve",
                   "--instruments", str(directory / "listing.toml"),
                   "--db", str(directory / "x.db"), "--port", "0"]  # fmt: skip
        server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        try:
            if pinned is not None:
                os.sched_setaffinity(server.pid, {_CORES[0]})
                os.sched_setaffinity(0, {_CORES[-1]})
            banner = server.stderr.readline() + server.stderr.readline()
            url = banner.split("exchange on ")[1].split("/v1")[0]
            warm = asyncio.run(_send_orders(url, key, rate, 1.0, "warm"))
            gc.collect()
            gc.disable()  # the client's own collections would count as the exchange's latency
            try:
                latencies = asyncio.run(_send_orders(url, key, rate, seconds, "timed"))
            finally:
                gc.enable()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            if pinned is not None:
                os.sched_setaffinity(0, pinned)
    kept = np.array(latencies if latencies else warm)
    return float(np.quantile(kept, 0.5)), float(np.quantile(kept, 0.99))


def bench_exchange(count: int = 300_000, reference_count: int = 20_000,
                   ack_rate: int = 1_000) -> EngineFigures:  # fmt: skip
    """Run the flow through the engine (best of 3) and the reference book; time acks."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.exchange.reference_book import ReferenceBook

    commands = flow(count)
    log = logged(commands)
    _run_rows(log[:BATCH])  # loads the compiled loop
    gc.collect()
    gc.freeze()  # the prepared commands are input, not the books' own objects: no scans of them
    try:
        rows_s = min(_run_rows(log) for _ in range(3))
        records_s = min(_apply_batches(log) for _ in range(3))
        per_command_s = min(_apply_engine(Engine({"ACME": ACME}), commands) for _ in range(3))
        reference_s = _apply_reference(ReferenceBook(ACME), commands[:reference_count])
    finally:
        gc.unfreeze()
    return EngineFigures(count, count / rows_s, count / records_s, count / per_command_s,
                         reference_count, reference_count / reference_s, ack_rate,
                         ack_latency(ack_rate), ack_latency(ack_rate, fsync=True))  # fmt: skip


if __name__ == "__main__":
    print(bench_exchange())
