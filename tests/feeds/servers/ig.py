"""IG's REST login and a Lightstreamer server (TLCP 2.5.0 over WebSocket), on loopback.

The stream checks the session tokens of the last login, answers
``create_session`` and ``control`` (``LS_op=add``) requests, sends each
subscribed MARKET item's snapshot, then plays the session's script
(:class:`Session`): updates encoded as Lightstreamer does (unchanged values
left out, ``^n`` for runs of unchanged fields, ``#`` null, ``$`` empty,
``|`` and ``%`` percent-encoded).

A ``LOOP`` line in the script asks the client to move the session to a new
connection: the server keeps the session, its subscriptions and the rest of
the script, and a ``bind_session`` naming it (``LS_session``) resumes where it
stopped, with the queued updates in the message that carries ``CONOK``. A
``bind_session`` for a session the server no longer has gets ``CONERR,20``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web

from quoteflow.feeds.ig.schemas import MARKET_FIELDS
from tests.feeds.servers import Peer, accept

SUBPROTOCOL = "TLCP-2.5.0.lightstreamer.com"


@dataclass
class Session:
    """What one connection gets once subscribed: (epic, changed fields) updates, raw lines."""

    updates: list[tuple[str, dict[str, str | None]] | str] = field(default_factory=list)
    end: str = "stay"  # "stay", "close" or "silent"
    delay_s: float = 0.0  # between updates (a slow server)
    conok_delay_s: float = 0.0  # before answering create_session
    forget_on_loop: bool = False  # drop the session at LOOP, as one that expires before a rebind


@dataclass
class Bound:
    """A stream session the server keeps across connections: its items and the script's place."""

    script: Session
    items: dict[str, tuple[str, list[str | None]]] = field(default_factory=dict)
    position: int = 0


async def send(ws: web.WebSocketResponse, *lines: str) -> None:
    """Send notification lines in one message, each ending with CR-LF as TLCP requires."""
    await ws.send_str("".join(f"{line}\r\n" for line in lines))


def encode_value(value: str | None) -> str:
    if value is None:
        return "#"
    if value == "":
        return "$"
    text = value.replace("%", "%25").replace("|", "%7C")
    return f"%{ord(text[0]):02X}{text[1:]}" if text[0] in "#$^" else text


def encode_update(previous: list[str | None] | None, current: list[str | None]) -> str:
    """The value list of a U line, as a Lightstreamer server compresses it."""
    if previous is None:
        return "|".join(encode_value(v) for v in current)
    tokens: list[str] = []
    for unchanged, group in itertools.groupby(zip(previous, current, strict=True),
                                              key=lambda pair: pair[0] == pair[1]):  # fmt: skip
        pairs = list(group)
        if unchanged:
            tokens.append("" if len(pairs) == 1 else f"^{len(pairs)}")
        else:
            tokens.extend(encode_value(new) for _, new in pairs)
    return "|".join(tokens)


@dataclass
class IgServer:
    """``POST /gateway/deal/session`` and ``/lightstreamer`` (WebSocket, TLCP)."""

    api_key: str = "api-key"
    username: str = "trader"
    password: str = "password"
    account_id: str = "ABC123"
    sessions: list[Session] = field(default_factory=list)
    snapshots: dict[str, dict[str, str | None]] = field(default_factory=dict)
    keepalive_ms: int = 200
    logins: int = 0
    peers: list[Peer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base_url: str = ""
    live: dict[str, Bound] = field(default_factory=dict)
    sent: int = 0  # U lines sent, snapshots included

    @property
    def tokens(self) -> tuple[str, str]:
        return f"cst-{self.logins}", f"xst-{self.logins}"

    def expire_tokens(self) -> None:
        """Make the tokens of the last login invalid, as IG does after hours of inactivity."""
        self.logins += 1

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/gateway/deal/session", self._login)
        app.router.add_get("/lightstreamer", self._stream)
        return app

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (request.headers.get("X-IG-API-KEY") != self.api_key
                or request.headers.get("Version") != "2"):  # fmt: skip
            return web.json_response({"errorCode": "error.security.api-key-invalid"}, status=403)
        if body != {"identifier": self.username, "password": self.password}:
            return web.json_response({"errorCode": "error.security.invalid-details"}, status=401)
        self.logins += 1
        cst, xst = self.tokens
        return web.json_response(
            {"accountType": "CFD", "currentAccountId": self.account_id,
             "lightstreamerEndpoint": self.base_url, "timezoneOffset": 0},
            headers={"CST": cst, "X-SECURITY-TOKEN": xst},
        )  # fmt: skip

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        peer = await accept(request, self.peers, (SUBPROTOCOL,))
        ws = peer.ws
        if ws.ws_protocol != SUBPROTOCOL:
            await peer.end("close")
            return ws
        name, params = self._parse(await peer.next())
        if name == "wsok":  # the WebSocket check a client may send first
            await send(ws, "WSOK")
            name, params = self._parse(await peer.next())
        if name == "bind_session":
            session_id = params.get("LS_session", "")
            bound = self.live.get(session_id)
            if bound is None:
                await send(ws, "CONERR,20,Specified session not found")
                await peer.stay()
                return ws
            conok = self._conok(session_id)
        else:
            session_id = f"S{len(self.live) + 1}"
            bound = Bound(self.sessions.pop(0) if self.sessions else Session())
            if not await self._create(peer, name, params, session_id, bound):
                return ws
            self.live[session_id] = bound
            conok = []
        await self._play(peer, session_id, bound, conok)
        return ws

    def _conok(self, session_id: str) -> list[str]:
        return [f"CONOK,{session_id},50000,{self.keepalive_ms},*", "SERVNAME,Test Server",
                "CLIENTIP,127.0.0.1", "CONS,unlimited"]  # fmt: skip

    async def _create(
        self, peer: Peer, name: str, params: dict[str, str], session_id: str, bound: Bound
    ) -> bool:
        """Answer create_session and the subscriptions; False when the login is refused."""
        ws = peer.ws
        cst, xst = self.tokens
        if (name != "create_session" or params.get("LS_user") != self.account_id
                or params.get("LS_password") != f"CST-{cst}|XST-{xst}"):  # fmt: skip
            await send(ws, "CONERR,1,User/password check failed")
            await peer.stay()
            return False
        await asyncio.sleep(bound.script.conok_delay_s)
        await send(ws, *self._conok(session_id))
        subscribed = 0
        while subscribed < len(self.snapshots) or subscribed == 0:
            name, params = self._parse(await peer.next())
            if name != "control" or params.get("LS_op") != "add":
                continue
            sub_id, group = params["LS_subId"], params["LS_group"]
            epic = group.removeprefix("MARKET:")
            if epic not in self.snapshots or params["LS_schema"].split(" ") != list(MARKET_FIELDS):
                await send(ws, f"REQERR,{params['LS_reqId']},21,Bad Group name")
                continue
            values = [self.snapshots[epic].get(f) for f in MARKET_FIELDS]
            bound.items[epic] = (sub_id, values)
            ack = params.get("LS_ack") != "false"
            acknowledged = [f"REQOK,{params['LS_reqId']}"] if ack else []
            await send(ws, *acknowledged, f"SUBOK,{sub_id},1,{len(MARKET_FIELDS)}",
                       f"CONF,{sub_id},unlimited,filtered",
                       f"U,{sub_id},1,{encode_update(None, values)}")  # fmt: skip
            self.sent += 1
            subscribed += 1
            if subscribed == len(self.snapshots):
                break
        return True

    async def _play(self, peer: Peer, session_id: str, bound: Bound, first: list[str]) -> None:
        """Play the script from where the session stopped, ``first`` lines in the first message."""
        ws, script = peer.ws, bound.script
        while bound.position < len(script.updates):
            update = script.updates[bound.position]
            bound.position += 1
            if first:
                lines, first = first, []
            else:
                await asyncio.sleep(script.delay_s)
                lines = []
            if isinstance(update, str):
                await send(ws, *lines, update)
                if update.startswith("LOOP"):
                    if script.forget_on_loop:
                        del self.live[session_id]
                    await peer.stay()  # the client closes this connection and binds a new one
                    return
                continue
            epic, changed = update
            sub_id, values = bound.items[epic]
            new = [changed.get(f, v) for f, v in zip(MARKET_FIELDS, values, strict=True)]
            await send(ws, *lines, f"U,{sub_id},1,{encode_update(values, new)}")
            self.sent += 1
            bound.items[epic] = (sub_id, new)
            self.snapshots[epic] = dict(zip(MARKET_FIELDS, new, strict=True))
        if first:
            await send(ws, *first)
        probes = asyncio.create_task(self._probe(ws)) if script.end == "stay" else None
        await peer.end(script.end)
        if probes:
            probes.cancel()

    async def _probe(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.keepalive_ms / 1000)
            await send(ws, "PROBE")

    def _parse(self, message: str) -> tuple[str, dict[str, str]]:
        name, _, body = message.partition("\r\n")
        params = dict(pair.split("=", 1) for pair in body.split("&") if pair)
        params = {k: v if k == "LS_cid" else unquote(v) for k, v in params.items()}
        self.requests.append((name, params))
        return name, params
