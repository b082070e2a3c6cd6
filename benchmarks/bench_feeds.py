"""Live feed adapters: Alpaca quote frames from a local server, socket to topic.

quoteflow's ``AlpacaStream`` publishing into a memory-bus topic, next to the
official SDK alpaca-py's ``StockDataStream`` (its handler as the "topic"), on
the same quotes from the same local server (``benchmarks/alpaca_flood.py``, on
the other core): JSON for quoteflow, msgpack for alpaca-py, as each speaks
to Alpaca. Throughput: the server floods ``count`` quotes; rate between the
first frame and the last record delivered. Latency: ``rate`` quotes/s, one per
frame, ``t`` = send time; measured when the record is on the topic. Bandwidth:
the bytes the server sends for the same quotes, counted by a TCP proxy between
client and server, with the permessage-deflate quoteflow asks Alpaca for and
without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quoteflow.bus import MemoryBus
from quoteflow.feeds.alpaca.client import AlpacaStream
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.runtime import Pipeline

_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
_WARM_UP_S = 1.0


@dataclass
class FeedSide:
    """One client's figures."""

    name: str
    per_frame: int
    per_s: float


@dataclass
class WireBytes:
    """Bytes on the wire per quote, server to client, with and without permessage-deflate."""

    per_frame: int
    plain: float
    deflated: float


@dataclass
class FeedFigures:
    """Throughput per client and frame size, latency at a steady rate, and bandwidth."""

    count: int
    rate_per_s: int
    sides: list[FeedSide]
    latency_ms: dict[str, tuple[float, float]]
    wire: list[WireBytes]


class _Server:
    def __init__(self, mode: str, count: int, per_frame: int, rate: int = 0) -> None:
        self._dir = tempfile.TemporaryDirectory()
        port_file = Path(self._dir.name) / "port"
        core = str(_CORES[-1])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.alpaca_flood", str(port_file), core, mode,
             str(count), str(per_frame), str(rate)],
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the flood server did not start")
            time.sleep(0.05)
        self.url = f"ws://127.0.0.1:{port_file.read_text()}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._dir.cleanup()


def _quoteflow_stream(url: str, compress: bool = True) -> AlpacaStream:
    settings = AlpacaSettings(key_id="k", secret_key="s", stream_url=url, rest_url="http://x")
    policy = ConnectionPolicy(heartbeat_s=None, reconnect_initial_s=0.01, reconnect_max_s=0.05)
    feed = AlpacaStream(settings, {"quotes": ["*"]}, policy=policy, backfill=False)
    if not compress:
        feed.compress = 0  # type: ignore[misc]
    return feed


async def _wire_bytes(url: str, count: int, compress: bool) -> int:
    """Return the bytes the server sent while the client took ``count`` quotes."""
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    sent = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count_it: bool):
        nonlocal sent
        while data := await reader.read(65_536):
            sent += len(data) if count_it else 0
            writer.write(data)
            await writer.drain()
        writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        with contextlib.suppress(asyncio.CancelledError):  # the run ends while it relays
            await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True),
                                 return_exceptions=True)  # fmt: skip

    proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
    feed = _quoteflow_stream(f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", compress)
    seen = 0
    async for normalized in feed.stream():
        seen += len(normalized.events)
        if seen >= count:
            break
    proxy.close()
    return sent


async def _quoteflow(url: str, count: int, lags: list[int] | None) -> float:
    """Socket to topic: the feed's records published onto the memory bus's quotes topic."""
    feed = _quoteflow_stream(url)
    pipeline = Pipeline(MemoryBus(), [feed])  # nobody reads: each partition keeps its newest
    seen, first = 0, None
    async for normalized in feed.stream():
        first = first or time.perf_counter()
        await pipeline.publish(normalized)
        if lags is not None:
            on_topic = time.time_ns()
            lags.extend(on_topic - event.ts_event for event in normalized.events)
        seen += len(normalized.events)
        if seen >= count:
            break
    return count / (time.perf_counter() - first)


async def _alpaca_py(url: str, count: int, raw: bool, lags: list[int] | None) -> float:
    from alpaca.data.live import StockDataStream

    stream = StockDataStream("k", "s", raw_data=raw, url_override=f"{url}/v2/iex")
    done = asyncio.Event()
    state = {"seen": 0, "first": 0.0}

    async def on_quote(quote) -> None:
        if not state["seen"]:
            state["first"] = time.perf_counter()
        state["seen"] += 1
        if lags is not None:
            t = quote["t"].to_unix_nano() if raw else int(quote.timestamp.timestamp() * 1e9)
            lags.append(time.time_ns() - t)
        if state["seen"] >= count:
            done.set()

    stream.subscribe_quotes(on_quote, "*")
    runner = asyncio.create_task(stream._run_forever())
    await done.wait()
    elapsed = time.perf_counter() - state["first"]
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return count / elapsed


_CLIENTS = {
    "quoteflow": lambda url, count, lags: _quoteflow(url, count, lags),
    "alpaca-py (models)": lambda url, count, lags: _alpaca_py(url, count, False, lags),
    "alpaca-py (raw dicts)": lambda url, count, lags: _alpaca_py(url, count, True, lags),
}


def _run(name: str, mode: str, count: int, per_frame: int, rate: int = 0,
         lags: list[int] | None = None) -> float:  # fmt: skip
    server = _Server(mode, count, per_frame, rate)
    try:
        return asyncio.run(asyncio.wait_for(_CLIENTS[name](server.url, count, lags), 600))
    finally:
        server.stop()


def bench_feeds(count: int = 400_000, rate_per_s: int = 10_000, seconds: int = 10) -> FeedFigures:
    """Measure each client's throughput (frames of 1, 10, 100 quotes) and latency."""
    sides = []
    for per_frame in (100, 10, 1):
        n = count if per_frame > 1 else count // 4
        for name in _CLIENTS:
            if name.startswith("alpaca-py") and per_frame == 1 and "raw" in name:
                continue
            sides.append(FeedSide(name, per_frame, _run(name, "flood", n, per_frame)))
    latency = {}
    for name in ("quoteflow", "alpaca-py (models)"):
        lags: list[int] = []
        _run(name, "paced", rate_per_s * seconds, 1, rate_per_s, lags)
        kept = np.array(lags[int(rate_per_s * _WARM_UP_S) :], dtype=np.int64) / 1e6
        latency[name] = (float(np.quantile(kept, 0.5)), float(np.quantile(kept, 0.99)))
    wire = []
    for per_frame in (1, 100):
        n = 20_000
        plain, deflated = (_bytes_per_quote(n, per_frame, on) for on in (False, True))
        wire.append(WireBytes(per_frame, plain, deflated))
    return FeedFigures(count, rate_per_s, sides, latency, wire)


def _bytes_per_quote(count: int, per_frame: int, compress: bool) -> float:
    server = _Server("flood", count, per_frame)
    try:
        return asyncio.run(_wire_bytes(server.url, count, compress)) / count
    finally:
        server.stop()


if __name__ == "__main__":
    print(bench_feeds(count=int(sys.argv[1]) if len(sys.argv) > 1 else 400_000))
