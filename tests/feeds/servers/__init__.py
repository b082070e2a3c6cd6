"""Provider servers on loopback that speak each provider's wire protocol, for the feed tests."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer


async def collect(feed, until, timeout: float = 10.0):
    """Run the feed until ``until(events, rejects)`` holds; return (events, rejects)."""
    events, rejects = [], []

    async def run():
        async for normalized in feed.stream():
            events.extend(normalized.events)
            rejects.extend(normalized.rejects)
            if until(events, rejects):
                return

    await asyncio.wait_for(run(), timeout)
    return events, rejects


async def wait_for(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def serving(app: web.Application):
    """Run ``app`` on a free loopback port; yield its base URL (http://127.0.0.1:<port>)."""
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


class Peer:
    """One client connection as a server sees it: what it sent, and a queue of its messages."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.compress = ws.compress  # permessage-deflate window bits agreed (0: none)
        self.received: list[str] = []
        self.binary_frames = 0
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        # Reading also answers the client's pings (aiohttp replies while receiving).
        async for message in self.ws:
            if message.type is web.WSMsgType.TEXT:
                self.received.append(message.data)
                self.inbox.put_nowait(message.data)
            elif message.type is web.WSMsgType.BINARY:  # the providers document text frames
                self.binary_frames += 1
                await self.ws.close(code=1003, message=b"send JSON in text frames")

    async def next(self, timeout: float = 5.0) -> str:
        """Return the next message the client sent."""
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def go_silent(self) -> None:
        """Stop reading and sending, as a frozen server does: pings go unanswered."""
        self._reader.cancel()
        await asyncio.sleep(3600)

    async def stay(self) -> None:
        """Keep the connection open, reading, until the client closes it."""
        await self._reader

    def stop(self) -> None:
        self._reader.cancel()

    async def end(self, how: str) -> None:
        """End the connection as a script says: "close" it, go "silent", or "stay" open."""
        if how == "close":
            self.stop()
            await self.ws.close()
        elif how == "silent":
            await self.go_silent()
        else:
            await self.stay()


async def accept(request: web.Request, peers: list[Peer], protocols: tuple[str, ...] = ()) -> Peer:
    """Accept a WebSocket connection, note its peer in ``peers`` and return it."""
    ws = web.WebSocketResponse(protocols=protocols)
    await ws.prepare(request)
    peer = Peer(ws)
    peers.append(peer)
    return peer
