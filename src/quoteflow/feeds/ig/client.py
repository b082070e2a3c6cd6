"""IG streaming: REST login for session tokens, then Lightstreamer (TLCP) over WebSocket.

Login: ``POST <rest>/session`` (``Version: 2``, header ``X-IG-API-KEY``, body
identifier and password) answers with the ``CST`` and ``X-SECURITY-TOKEN``
headers, the account id and the Lightstreamer endpoint. The stream session
logs in with user = account id and password = ``CST-<cst>|XST-<xst>``, then
subscribes each epic as item ``MARKET:<epic>`` in MERGE mode with a snapshot,
so that after every reconnect each epic starts again from its current state.

When the server asks the client to move the session to a new connection
(``LOOP``, for example when a connection has carried its allowed length), the
client opens one and binds the same session (``bind_session``): subscriptions
and each epic's field values carry over, and the updates the server queued
meanwhile arrive in order, so nothing is lost or repeated and no gap is
counted. A rebind the server refuses (the session expired) opens a new session.

Lightstreamer has no history to fill a gap from: updates the server had to
drop (``OV``) and disconnects are counted as gaps; the snapshot after a
reconnect restores each epic's current state. A refused stream login
(``CONERR,1``: the tokens expired) logs in again once; a refused REST login
raises :class:`~quoteflow.errors.AuthenticationError` and is not retried.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import aiohttp
import msgspec

from quoteflow.errors import (
    AuthenticationError,
    ConfigError,
    FeedConnectionError,
    NormalizeError,
    SubscriptionError,
)
from quoteflow.feeds.base import Normalized, reject
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.connection import WebSocketFeed, receive_frame
from quoteflow.feeds.ig.config import IgSettings
from quoteflow.feeds.ig.parsing import PROVIDER, parse_message
from quoteflow.feeds.ig.schemas import MARKET_FIELDS
from quoteflow.feeds.ig.tlcp import (
    CLIENT_ID,
    NOTIFICATIONS,
    SUBPROTOCOL,
    ItemState,
    parse_line,
    request,
)

__all__ = ["IgSession", "IgStream", "log_in"]

log = logging.getLogger("quoteflow.feeds")

_SESSION_REFUSED = "1"
"""CONERR code: the user/password check failed (for IG: the tokens)."""


class _LoginAnswer(msgspec.Struct, frozen=True):
    currentAccountId: str  # noqa: N815 - IG's field name
    lightstreamerEndpoint: str  # noqa: N815 - IG's field name


@dataclass(frozen=True)
class IgSession:
    """What a REST login gives: the tokens, the account and the Lightstreamer endpoint."""

    cst: str
    security_token: str
    account_id: str
    lightstreamer_endpoint: str

    def __repr__(self) -> str:
        return f"IgSession(account_id={self.account_id!r}, tokens=**********)"


async def log_in(settings: IgSettings, http: aiohttp.ClientSession) -> IgSession:
    """Log in over REST and return the session tokens.

    Raises ConfigError when credentials are missing, AuthenticationError when IG
    refuses them, FeedConnectionError when IG cannot be reached.
    """
    if not (settings.api_key and settings.username and settings.password):
        raise ConfigError(
            "ig: no credentials; set QUOTEFLOW_IG__API_KEY, QUOTEFLOW_IG__USERNAME and "
            "QUOTEFLOW_IG__PASSWORD (or [ig] in a chmod 600 config file)"
        )
    headers = {
        "X-IG-API-KEY": settings.api_key.get_secret_value(),
        "Version": "2",
        "Accept": "application/json; charset=UTF-8",
    }
    body = {"identifier": settings.username, "password": settings.password.get_secret_value()}
    url = f"{settings.api_url()}/session"
    try:
        async with http.post(url, json=body, headers=headers) as answer:
            content = await answer.read()
            if answer.status in (400, 401, 403):
                said = content[:200].decode(errors="replace")
                raise AuthenticationError(
                    f"ig: login refused (HTTP {answer.status}: {said}); check "
                    "QUOTEFLOW_IG__API_KEY, QUOTEFLOW_IG__USERNAME and QUOTEFLOW_IG__PASSWORD"
                )
            if answer.status != 200:
                raise FeedConnectionError(f"ig: login failed with HTTP {answer.status}")
            cst, xst = answer.headers.get("CST"), answer.headers.get("X-SECURITY-TOKEN")
    except (aiohttp.ClientError, OSError) as exc:
        raise FeedConnectionError(f"ig: cannot reach {url}: {exc}") from exc
    if not (cst and xst):
        raise FeedConnectionError("ig: login answer without CST / X-SECURITY-TOKEN headers")
    try:
        found = msgspec.json.decode(content, type=_LoginAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FeedConnectionError(f"ig: unexpected login answer: {exc}") from exc
    return IgSession(cst, xst, found.currentAccountId, found.lightstreamerEndpoint)


class IgStream(WebSocketFeed):
    """Stream MARKET updates of IG epics as quote records.

    >>> IgStream(IgSettings(), ["CS.D.BITCOIN.CFE.IP"]).epics
    ['CS.D.BITCOIN.CFE.IP']
    """

    name: ClassVar[str] = "ig"

    def __init__(
        self,
        settings: IgSettings,
        epics: Sequence[str],
        *,
        policy: ConnectionPolicy | None = None,
    ) -> None:
        policy = policy or settings.policy()
        if policy.idle_timeout_s is None:
            policy = dataclasses.replace(policy, idle_timeout_s=3 * settings.keepalive_ms / 1000)
        super().__init__(policy)
        if not epics:
            raise ValueError("ig: give at least one epic")
        self.settings = settings
        self.epics = list(dict.fromkeys(epics))
        self.session: IgSession | None = None
        self._fresh_login = False
        self._session_id: str | None = None
        self._items: dict[str, tuple[str, ItemState]] = {}
        self._request_id = 0
        self._unread: list[str] = []

    async def _prepare(self, http: aiohttp.ClientSession) -> None:
        if self.session is None:
            self.session = await log_in(self.settings, http)
            self._fresh_login = True

    def _url(self) -> str:
        assert self.session is not None, "_prepare logs in first"
        endpoint = self.session.lightstreamer_endpoint.rstrip("/")
        scheme, _, rest = endpoint.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/lightstreamer"

    def _protocols(self) -> tuple[str, ...]:
        return (SUBPROTOCOL,)

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    async def _open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._rebind and self._session_id is not None:
            await self._bind(ws, self._session_id)
        else:
            await self._create(ws)

    async def _bind(self, ws: aiohttp.ClientWebSocketResponse, session_id: str) -> None:
        """Resume the session on this connection; subscriptions and item states carry over."""
        await ws.send_str(request("bind_session", {
            "LS_session": session_id,
            "LS_keepalive_millis": self.settings.keepalive_ms,
            "LS_send_sync": "false",
        }))  # fmt: skip
        try:
            await self._until(ws, {"CONOK"})
        except FeedConnectionError as exc:
            raise FeedConnectionError(
                f"ig: could not resume session {session_id} ({exc}); opening a new one"
            ) from exc

    async def _create(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Open a new session and subscribe every epic, each starting from its snapshot."""
        session = self.session
        assert session is not None
        await ws.send_str(request("create_session", {
            "LS_cid": CLIENT_ID,
            "LS_user": session.account_id,
            "LS_password": f"CST-{session.cst}|XST-{session.security_token}",
            "LS_adapter_set": "DEFAULT",
            "LS_keepalive_millis": self.settings.keepalive_ms,
            "LS_send_sync": "false",
        }))  # fmt: skip
        _, conok = await self._until(ws, {"CONOK"})
        self._session_id = conok[0]
        self._fresh_login = False
        self._items = {}
        for number, epic in enumerate(self.epics, start=1):
            self._items[str(number)] = (epic, ItemState(MARKET_FIELDS))
            await ws.send_str(request("control", {
                "LS_reqId": self._next_request_id(), "LS_op": "add", "LS_subId": number,
                "LS_group": f"MARKET:{epic}", "LS_schema": " ".join(MARKET_FIELDS),
                "LS_mode": "MERGE", "LS_snapshot": "true",
            }))  # fmt: skip
        confirmed: set[str] = set()
        while len(confirmed) < len(self.epics):
            tag, args = await self._until(ws, {"SUBOK", "REQERR", "ERROR"})
            if tag == "SUBOK":
                confirmed.add(args[0])
            else:
                raise SubscriptionError(f"ig: subscription refused ({tag},{','.join(args)})")

    async def _until(
        self, ws: aiohttp.ClientWebSocketResponse, tags: set[str]
    ) -> tuple[str, list[str]]:
        """Read handshake lines until one of ``tags``; refuse on CONERR and END.

        Lines after the one returned (a snapshot may share its message) are kept
        for :meth:`_after_open`.
        """
        while True:
            lines = self._unread or (await receive_frame(ws)).decode(errors="replace").split("\r\n")
            for index, line in enumerate(lines):
                tag, args = parse_line(line)
                if tag in tags:
                    self._unread = lines[index + 1 :]
                    return tag, args
                if tag in ("CONERR", "END"):
                    raise self._refusal(tag, args)
            self._unread = []

    async def _after_open(
        self, http: aiohttp.ClientSession, *, reconnected: bool
    ) -> AsyncIterator[Normalized]:
        lines, self._unread = self._unread, []
        normalized = self._lines(lines, time.time_ns())
        if normalized is not None:
            yield normalized

    def _refusal(self, tag: str, args: list[str]) -> Exception:
        code, text = [*args, "", ""][:2]
        if tag == "CONERR" and code == _SESSION_REFUSED:
            if self._fresh_login:
                return AuthenticationError(
                    f"ig: the stream refused a fresh login ({code} {text}); check the account"
                )
            self.session = None  # tokens expired: log in again on the next attempt
            return FeedConnectionError(f"ig: session tokens refused ({code} {text}); logging in")
        return FeedConnectionError(f"ig: stream session ended ({tag} {code} {text})")

    def _on_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized | None:
        return self._lines(frame.decode("utf-8", errors="replace").split("\r\n"), ts_recv_ns)

    def _lines(self, lines: list[str], ts_recv_ns: int) -> Normalized | None:
        result = Normalized([])
        for line in lines:
            if line.startswith("U,"):
                self._update(line, ts_recv_ns, result)
                continue
            tag, args = parse_line(line)
            if tag == "OV":
                self.metrics.gaps += 1
                log.warning("ig: server dropped %s updates of %s", args[2],
                            self._items.get(args[0], ("?",))[0])  # fmt: skip
            elif tag == "LOOP":
                self._rebind = True  # the last line on this connection
                break
            elif tag in ("END", "CONERR"):
                raise self._refusal(tag, args)
            elif tag in ("REQERR", "ERROR", "UNSUB"):
                log.warning("ig: %s", line)
            elif tag not in NOTIFICATIONS and line:
                error = NormalizeError("$", f"unknown TLCP notification {tag!r}")
                result.rejects.append(reject(PROVIDER, ts_recv_ns, error, line))
        return result if result.events or result.rejects else None

    def _update(self, line: str, ts_recv_ns: int, result: Normalized) -> None:
        _, args = parse_line(line)
        try:
            if len(args) != 3 or args[0] not in self._items:
                raise NormalizeError("$", "update of an unknown subscription")
            epic, item = self._items[args[0]]
            result.events.extend(parse_message(item.apply(args[2]), ts_recv_ns, instrument=epic))
        except NormalizeError as error:
            result.rejects.append(reject(PROVIDER, ts_recv_ns, error, line))
