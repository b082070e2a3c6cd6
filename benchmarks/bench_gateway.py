"""The delivery gateway: 100 subscribers on loopback, next to a bare websockets broadcast.

One server process on one core publishes synthetic enriched quotes (100
instruments) at a steady input rate, in a batch every 5 ms, to 100 WebSocket
subscribers, each subscribed to 5 instruments; two client processes on the other
core hold 50 connections each. quoteflow: the gateway as ``quoteflow serve`` runs
it (uvicorn, the hub, per-connection bounded queues, keys, rate limits), fed
through its bus sink. Baseline: a bare ``websockets`` server doing the least that
delivers the same bytes: each record encoded once, each client's part written at
once with ``broadcast`` (no queues, no flow control, no auth). Delivered: records
the clients received in the measured window, per second. Latency: from ``ts_recv``
(set when the record is published) to the client's receipt of the frame, for the
oldest record of each frame, ms resolution. Cost: the server process's CPU time
per delivered record.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
INSTRUMENTS = [f"SYM{i:03d}" for i in range(100)]
SUBSCRIBERS = 100
PER_SUBSCRIBER = 5
CLIENT_PROCESSES = 2
TICK_S = 0.005
_TIMESTAMP = re.compile(rb'"clientTimestamp":(\d+)')


@dataclass
class GatewaySide:
    """One server's figures at one input rate."""

    name: str
    input_per_s: int
    delivered_per_s: float
    latency_ms: tuple[float, float]
    cpu_us_per_record: float
    closed: int


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _quotes(count: int, start: int):
    from quoteflow.events import EnrichedQuote

    now = time.time_ns()
    return [
        EnrichedQuote(
            "bench",
            INSTRUMENTS[(start + i) % len(INSTRUMENTS)],
            now,
            now,
            bid_price=100.0 + (i % 7),
            ask_price=100.5,
            bid_size=100.0,
            ask_size=200.0,
            move_price=100.2,
            previous_close=99.8,
            change_pct=0.4,
            move="Neutral",
            indicators={"sma_20": 100.1, "rsi_14": 55.0},
        )
        for i in range(count)
    ]


async def _publish(publish, rate: int, until: float) -> int:
    """Publish ``rate`` records a second in ticks until ``until``; return the count."""
    sent = 0
    started = time.monotonic()
    while time.time() < until:
        due = int((time.monotonic() - started) * rate) - sent
        if due > 0:
            await publish(_quotes(due, sent))
            sent += due
        await asyncio.sleep(TICK_S)
    return sent


async def _quoteflow_server(pipe: Connection, rate: int) -> None:
    from quoteflow.access.keys import KeyStore
    from quoteflow.bus.base import Message
    from quoteflow.gateway.hub import Hub
    from quoteflow.gateway.server import GatewayServer, gateway_channels
    from quoteflow.gateway.service import Gateway, GatewayOptions
    from quoteflow.gateway.sink import GatewaySink

    with tempfile.TemporaryDirectory() as scratch:
        keys = KeyStore(Path(scratch) / "keys.db")
        _, key = keys.create("bench", channels=["*"], instruments=["*"],
                             max_connections=SUBSCRIBERS,
                             max_messages_per_s=10_000_000)  # fmt: skip
        channels = gateway_channels("bars.1m")
        gateway = Gateway(Hub(), keys, channels, options=GatewayOptions(revocation_check_s=1000))
        sink = GatewaySink(gateway.hub, channels, gateway.metrics)
        server = GatewayServer(gateway, port=0)
        await server.start()
        offset = 0

        async def publish(events) -> None:
            nonlocal offset
            messages = [Message("quotes.enriched", 0, offset + i, e.instrument, e)
                        for i, e in enumerate(events)]  # fmt: skip
            offset += len(messages)
            await sink.write(messages)

        pipe.send((server.stream_url, key))
        await _serve_measured(pipe, publish, rate)
        closed = int(sum(gateway.metrics.total("closes", code=c)
                         for c in ("slow_consumer", "rate_limited")))  # fmt: skip
        pipe.send(closed)
        await server.stop()


async def _bare_server(pipe: Connection, rate: int) -> None:
    import msgspec
    from websockets.asyncio.server import broadcast, serve

    from quoteflow.gateway.sink import encode_record

    clients: dict[object, set[str]] = {}
    sequence = 0

    async def handler(websocket) -> None:
        request = json.loads(await websocket.recv())
        clients[websocket] = set(request["instruments"])
        try:
            await websocket.wait_closed()
        finally:
            clients.pop(websocket, None)

    async def publish(events) -> None:
        nonlocal sequence
        encoded = []
        for event in events:
            sequence += 1
            encoded.append((event.instrument, encode_record("quotes.enriched", sequence, event)))
        for websocket, wanted in list(clients.items()):
            part = [payload for instrument, payload in encoded if instrument in wanted]
            if part:
                broadcast([websocket], "[" + b",".join(part).decode() + "]")

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        gc.freeze()  # as the gateway does once started
        port = next(iter(server.sockets)).getsockname()[1]
        pipe.send((f"ws://127.0.0.1:{port}", ""))
        await _serve_measured(pipe, publish, rate)
        del msgspec
        pipe.send(0)


async def _serve_measured(pipe: Connection, publish, rate: int) -> None:
    """Wait for the start signal, publish until the end, report CPU over the window."""
    window_from, window_to = await asyncio.to_thread(pipe.recv)
    ended = asyncio.create_task(_publish(publish, rate, window_to + 0.5))
    await asyncio.sleep(max(0.0, window_from - time.time()))
    cpu_from = time.process_time()
    await asyncio.sleep(max(0.0, window_to - time.time()))
    pipe.send(time.process_time() - cpu_from)
    await ended


def _server_main(kind: str, core: int, rate: int, pipe: Connection) -> None:
    _pin(core)
    server = _quoteflow_server if kind == "quoteflow" else _bare_server
    asyncio.run(server(pipe, rate))


async def _client(url: str, key: str, instruments: list[str], window: tuple[float, float],
                  ready: asyncio.Event, figures: dict) -> None:  # fmt: skip
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url, max_size=None, compression=None) as websocket:
        if key:
            await websocket.send(json.dumps({"op": "auth", "key": key}))
            await websocket.recv()
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": instruments}))  # fmt: skip
        if key:
            await websocket.recv()
        ready.set()
        try:
            async for frame in websocket:
                now = time.time()
                if now > window[1]:
                    break
                if now < window[0] or not isinstance(frame, str):
                    continue
                data = frame.encode()
                figures["records"] += data.count(b'"seq":')
                stamp = _TIMESTAMP.search(data, 0, 2000)
                if stamp:
                    figures["latency_ms"].append(now * 1000 - int(stamp.group(1)))
        except ConnectionClosed:
            figures["closed"] += 1


def _clients_main(url: str, key: str, core: int, subscribers: range, pipe: Connection) -> None:
    _pin(core)

    async def run() -> None:
        figures = {"records": 0, "latency_ms": [], "closed": 0}
        window = [0.0, float("inf")]
        readies = []
        tasks = []
        for n in subscribers:
            wanted = [INSTRUMENTS[(n * PER_SUBSCRIBER + i) % len(INSTRUMENTS)]
                      for i in range(PER_SUBSCRIBER)]  # fmt: skip
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(_client(url, key, wanted, window, ready, figures)))
        for ready in readies:
            await ready.wait()
        gc.freeze()  # both servers are measured through the same clients: keep their pauses out
        pipe.send("ready")
        window[:] = await asyncio.to_thread(pipe.recv)
        await asyncio.wait(tasks, timeout=window[1] - time.time() + 5)
        for task in tasks:
            task.cancel()
        pipe.send(figures)

    asyncio.run(run())


def _run(kind: str, rate: int, warm_up_s: float, seconds: float) -> GatewaySide:
    context = multiprocessing.get_context("spawn")
    server_pipe, server_end = context.Pipe()
    server = context.Process(target=_server_main, args=(kind, _CORES[0], rate, server_end))
    server.start()
    url, key = server_pipe.recv()
    per_process = SUBSCRIBERS // CLIENT_PROCESSES
    clients = []
    for p in range(CLIENT_PROCESSES):
        pipe, end = context.Pipe()
        process = context.Process(
            target=_clients_main,
            args=(url, key, _CORES[-1], range(p * per_process, (p + 1) * per_process), end),
        )
        process.start()
        clients.append((process, pipe))
    for _, pipe in clients:
        assert pipe.recv() == "ready"
    now = time.time()
    window = (now + warm_up_s, now + warm_up_s + seconds)
    server_pipe.send(window)
    for _, pipe in clients:
        pipe.send(window)
    cpu_s = server_pipe.recv()
    results = [pipe.recv() for _, pipe in clients]
    closed = server_pipe.recv()
    for process, _ in clients:
        process.join(30)
    server.join(30)
    delivered = sum(r["records"] for r in results)
    latencies = np.array([x for r in results for x in r["latency_ms"]] or [np.nan])
    return GatewaySide(
        name=kind,
        input_per_s=rate,
        delivered_per_s=delivered / seconds,
        latency_ms=(float(np.quantile(latencies, 0.5)), float(np.quantile(latencies, 0.99))),
        cpu_us_per_record=cpu_s / max(delivered, 1) * 1e6,
        closed=closed + sum(r["closed"] for r in results),
    )


def bench_gateway(rates: tuple[int, ...] = (10_000, 50_000), warm_up_s: float = 2.0,
                  seconds: float = 6.0) -> list[GatewaySide]:  # fmt: skip
    """Measure both servers at each input rate, taking turns."""
    return [_run(kind, rate, warm_up_s, seconds)
            for rate in rates for kind in ("quoteflow", "bare websockets")]  # fmt: skip


if __name__ == "__main__":
    for side in bench_gateway(seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 6.0):
        print(side)
