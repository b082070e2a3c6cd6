"""A local Alpaca stream v2 server for the feed benchmark, run as its own process.

Usage: ``python -m benchmarks.alpaca_flood <port-file> <core> <mode> <count> <per_frame> [rate]``

Speaks JSON, or msgpack when the client sends ``Content-Type: application/msgpack``
(as alpaca-py does). After the handshake it sends ``count`` quotes in frames of
``per_frame``: ``flood`` as fast as it can (frames encoded beforehand), ``paced``
at ``rate`` quotes/s with ``t`` = the send time, for latency.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime

import msgpack
import msgspec
from aiohttp import web

SYMBOLS = [f"S{i:02d}" for i in range(50)]
T_TEXT = "2024-01-02T15:30:00.123456789Z"


def quote(i: int, t: str | msgpack.Timestamp) -> dict:
    price = 100.0 + (i % 997) * 0.01
    return {"T": "q", "S": SYMBOLS[i % 50], "bx": "V", "bp": price, "bs": 1 + i % 7, "ax": "V",
            "ap": price + 0.02, "as": 2 + i % 5, "t": t, "c": ["R"], "z": "C"}  # fmt: skip


def encode(messages: list[dict], binary: bool) -> bytes:
    return msgpack.packb(messages) if binary else msgspec.json.encode(messages)


async def put(ws: web.WebSocketResponse, frame: bytes, binary: bool) -> None:
    """Send a frame as Alpaca does: text (JSON) or binary (msgpack)."""
    await ws.send_frame(frame, web.WSMsgType.BINARY if binary else web.WSMsgType.TEXT)


def now_text() -> str:
    ns = time.time_ns()
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ns % 10**9:09d}Z"
    )


def now_stamp() -> msgpack.Timestamp:
    return msgpack.Timestamp.from_unix_nano(time.time_ns())


class Flood:
    def __init__(self, mode: str, count: int, per_frame: int, rate: int) -> None:
        self.mode, self.count, self.per_frame, self.rate = mode, count, per_frame, rate

    def frames(self, binary: bool) -> list[bytes]:
        stamp = msgpack.Timestamp.from_unix_nano(1_704_209_400_123_456_789) if binary else T_TEXT
        frames = []
        for start in range(0, self.count, self.per_frame):
            stop = min(start + self.per_frame, self.count)
            frames.append(encode([quote(i, stamp) for i in range(start, stop)], binary))
        return frames

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        binary = request.headers.get("Content-Type") == "application/msgpack"
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await put(ws, encode([{"T": "success", "msg": "connected"}], binary), binary)
        await ws.receive()
        await put(ws, encode([{"T": "success", "msg": "authenticated"}], binary), binary)
        await ws.receive()
        await put(ws, encode([{"T": "subscription", "quotes": ["*"]}], binary), binary)
        if self.mode == "flood":
            for frame in self.frames(binary):
                await put(ws, frame, binary)
        else:
            await self.paced(ws, binary)
        async for _ in ws:  # until the client leaves
            pass
        return ws

    async def paced(self, ws: web.WebSocketResponse, binary: bool) -> None:
        started = time.perf_counter()
        sent = 0
        stamp = now_stamp if binary else now_text
        while sent < self.count:
            due = int((time.perf_counter() - started) * self.rate) + 1
            while sent < min(due, self.count):
                frame = encode([quote(sent + k, stamp()) for k in range(self.per_frame)], binary)
                await put(ws, frame, binary)
                sent += self.per_frame
            await asyncio.sleep(0.0005)


async def main() -> None:
    port_file, core, mode, count, per_frame = sys.argv[1:6]
    rate = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(core)})
    flood = Flood(mode, int(count), int(per_frame), rate)
    app = web.Application()
    app.router.add_get("/v2/{feed}", flood.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with open(port_file, "w") as out:
        out.write(str(port))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
