"""Alpaca's market-data stream v2 and REST bars endpoint, on loopback.

Each WebSocket connection plays the next :class:`Session` script after the
handshake (welcome, auth, subscription confirmation), then ends it the way the
script says: the server closes, goes silent, or stays open.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from tests.feeds.servers import Peer, accept

CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
            "corrections", "cancelErrors", "news")  # fmt: skip


@dataclass
class Session:
    """What one connection gets after the handshake."""

    frames: list[str] = field(default_factory=list)
    end: str = "stay"  # "stay", "close" or "silent"
    delay_s: float = 0.0  # between frames (a slow server)
    welcome_delay_s: float = 0.0


@dataclass
class AlpacaServer:
    """The stream (``/v2/{feed}``, ``/v1beta1/news``...) and ``GET /v2/stocks/bars``."""

    key: str = "key-id"
    secret: str = "secret-key"
    sessions: list[Session] = field(default_factory=list)
    bars: dict[str, list[dict]] = field(default_factory=dict)
    page_size: int = 10_000
    unconfirmed: tuple[str, ...] = ()  # symbols the confirmation leaves out
    throttled_requests: int = 0  # answer this many REST requests with 429 first
    hold_rest_until_sent: int = 0  # answer REST requests once this many frames went out
    peers: list[Peer] = field(default_factory=list)
    rest_requests: list[dict] = field(default_factory=list)
    sent_frames: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/stocks/bars", self._bars)
        app.router.add_get("/v1beta3/crypto/{location}/bars", self._bars)
        app.router.add_get("/v2/{feed}", self._stream)
        app.router.add_get("/v1beta3/crypto/{location}", self._stream)
        app.router.add_get("/v1beta1/news", self._stream)
        return app

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        peer = await accept(request, self.peers)
        ws = peer.ws
        session = self.sessions.pop(0) if self.sessions else Session()
        await asyncio.sleep(session.welcome_delay_s)
        await ws.send_str('[{"T":"success","msg":"connected"}]')
        auth = json.loads(await peer.next())
        if auth != {"action": "auth", "key": self.key, "secret": self.secret}:
            await ws.send_str('[{"T":"error","code":402,"msg":"auth failed"}]')
            await ws.close()
            return ws
        await ws.send_str('[{"T":"success","msg":"authenticated"}]')
        subscribe = json.loads(await peer.next())
        confirmed = {
            "T": "subscription",
            **{c: [s for s in subscribe.get(c, []) if s not in self.unconfirmed] for c in CHANNELS},
        }
        await ws.send_str(json.dumps([confirmed]))
        self.connected.set()
        for frame in session.frames:
            if session.delay_s:
                await asyncio.sleep(session.delay_s)
            await ws.send_str(frame)
            self.sent_frames += 1
        await peer.end(session.end)
        return ws

    async def _bars(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.rest_requests.append(query)
        while self.sent_frames < self.hold_rest_until_sent:
            await asyncio.sleep(0.01)
        headers = request.headers
        if (headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")) != (
            self.key,
            self.secret,
        ):
            return web.json_response({"message": "forbidden."}, status=403)
        if self.throttled_requests > 0:
            self.throttled_requests -= 1
            reset = str(int(time.time()) + 1)
            return web.json_response(
                {"message": "too many requests."}, status=429,
                headers={"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0",
                         "X-RateLimit-Reset": reset},
            )  # fmt: skip
        start = datetime.fromisoformat(query["start"])
        end = datetime.fromisoformat(query.get("end", "9999-12-31T00:00:00Z"))
        rows = [
            (symbol, bar)
            for symbol in sorted(query["symbols"].split(","))
            for bar in self.bars.get(symbol, [])
            if start <= datetime.fromisoformat(bar["t"]) <= end
        ]
        offset = int(base64.b64decode(query["page_token"])) if "page_token" in query else 0
        limit = min(int(query.get("limit", 1000)), self.page_size)
        page = rows[offset : offset + limit]
        grouped: dict[str, list[dict]] = {}
        for symbol, bar in page:
            grouped.setdefault(symbol, []).append(bar)
        more = offset + limit < len(rows)
        token = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return web.json_response({"bars": grouped, "next_page_token": token})
