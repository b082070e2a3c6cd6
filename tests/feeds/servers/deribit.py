"""Deribit's JSON-RPC 2.0 WebSocket API and public HTTP API, on loopback.

Each WebSocket connection answers ``public/auth``, ``public/set_heartbeat``,
``public/subscribe`` and ``public/test`` like Deribit, plays the next
:class:`Session` script once subscribed, and sends ``test_request``
heartbeats, closing the connection when one goes unanswered (as Deribit does).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web

from tests.feeds.servers import Peer, accept


@dataclass
class Session:
    """What one connection gets once subscribed."""

    frames: list[str] = field(default_factory=list)
    end: str = "stay"  # "stay", "close" or "silent"
    delay_s: float = 0.0  # between frames (a slow server)
    subscribe_delay_s: float = 0.0  # before answering public/subscribe


def notification(channel: str, data) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": channel, "data": data}})  # fmt: skip


def trade(instrument: str, seq: int, price: float = 30_000.0) -> dict:
    return {"trade_seq": seq, "trade_id": f"T-{seq}", "timestamp": 1_700_000_000_000 + seq,
            "tick_direction": 0, "price": price + seq, "mark_price": price, "index_price": price,
            "instrument_name": instrument, "direction": "buy" if seq % 2 else "sell",
            "amount": 10.0 * seq}  # fmt: skip


@dataclass
class DeribitServer:
    """``/ws/api/v2`` and ``GET /api/v2/public/<method>``."""

    credentials: tuple[str, str] | None = None  # required client id and secret, if any
    sessions: list[Session] = field(default_factory=list)
    trades: dict[str, list[dict]] = field(default_factory=dict)
    instruments: list[dict] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    unknown: tuple[str, ...] = ()  # channels subscribe leaves out
    heartbeat_s: float | None = None  # send test_request this often (None: as asked)
    peers: list[Peer] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    rest_requests: list[tuple[str, dict]] = field(default_factory=list)
    tests_answered: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws/api/v2", self._stream)
        app.router.add_get("/api/v2/public/{method}", self._public)
        return app

    @staticmethod
    def _answer(request: dict, result) -> str:
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result,
                           "usIn": 0, "usOut": 0, "usDiff": 0, "testnet": True})  # fmt: skip

    @staticmethod
    def _error(request: dict, code: int, message: str) -> str:
        return json.dumps({"jsonrpc": "2.0", "id": request["id"],
                           "error": {"code": code, "message": message}})  # fmt: skip

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        peer = await accept(request, self.peers)
        ws = peer.ws
        session = self.sessions.pop(0) if self.sessions else Session()
        interval = None
        while True:  # the handshake: answer requests until the subscription
            message = json.loads(await peer.next())
            self.requests.append(message)
            method, params = message["method"], message.get("params", {})
            if method == "public/auth":
                given = (params.get("client_id"), params.get("client_secret"))
                if self.credentials is not None and given != self.credentials:
                    await ws.send_str(self._error(message, 13004, "invalid_credentials"))
                    await peer.stay()
                    return ws
                await ws.send_str(self._answer(message, {"access_token": "t", "expires_in": 900}))
            elif method == "public/set_heartbeat":
                interval = self.heartbeat_s or params["interval"]
                await ws.send_str(self._answer(message, "ok"))
            elif method == "public/subscribe":
                await asyncio.sleep(session.subscribe_delay_s)
                channels = [c for c in params["channels"] if c not in self.unknown]
                await ws.send_str(self._answer(message, channels))
                break
        beats = asyncio.create_task(self._heartbeats(peer, interval)) if interval else None
        for frame in session.frames:
            await asyncio.sleep(session.delay_s)
            await ws.send_str(frame)
        if session.end == "close":
            peer.stop()
            await ws.close()
        elif session.end == "silent":
            if beats:
                beats.cancel()
            await peer.go_silent()
        else:
            await self._serve(peer)
        if beats:
            beats.cancel()
        return ws

    async def _serve(self, peer: Peer) -> None:
        """Answer requests after the handshake until the client leaves."""
        while not peer.ws.closed:
            try:
                message = json.loads(await peer.next(timeout=3600))
            except (TimeoutError, asyncio.CancelledError):
                return
            self.requests.append(message)
            if message.get("method") == "public/test":
                self.tests_answered += 1
                await peer.ws.send_str(self._answer(message, {"version": "1.2.26"}))
            elif message.get("method") == "public/subscribe":
                await peer.ws.send_str(self._answer(message, message["params"]["channels"]))

    async def _heartbeats(self, peer: Peer, interval: float) -> None:
        test_request = json.dumps({"jsonrpc": "2.0", "method": "heartbeat",
                                   "params": {"type": "test_request"}})  # fmt: skip

        def answers() -> int:
            return sum('"public/test"' in message for message in peer.received)

        while not peer.ws.closed:
            await asyncio.sleep(interval)
            answered = answers()
            await peer.ws.send_str(test_request)
            await asyncio.sleep(interval)
            if answers() == answered:
                await peer.ws.close()  # Deribit drops a client that does not answer
                return

    async def _public(self, request: web.Request) -> web.Response:
        method, query = request.match_info["method"], dict(request.query)
        self.rest_requests.append((method, query))
        if method == "get_last_trades_by_instrument":
            first, last = int(query["start_seq"]), int(query["end_seq"])
            rows = [t for t in self.trades.get(query["instrument_name"], [])
                    if first <= t["trade_seq"] <= last]  # fmt: skip
            count = int(query.get("count", 10))
            result = {"trades": rows[:count], "has_more": len(rows) > count}
        elif method == "get_instruments":
            result = [i for i in self.instruments if i["base_currency"] == query["currency"]
                      and i["kind"] == query["kind"]]  # fmt: skip
        elif method == "get_book_summary_by_currency":
            result = [
                s for s in self.summaries if s["instrument_name"].startswith(query["currency"])
            ]
        else:
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}},
                status=400,
            )
        return web.json_response({"jsonrpc": "2.0", "result": result, "usIn": 0, "usOut": 0,
                                  "usDiff": 0, "testnet": True})  # fmt: skip
