"""The gateway's HTTP side: the WebSocket stream, REST endpoints, health and metrics.

REST requests authenticate with ``Authorization: Bearer <API key>`` and see
only what the key is entitled to. Errors are ``{"reason", "message", "field"}``.
The OpenAPI spec is at ``/openapi.json`` (and browsable at ``/docs``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from quoteflow.access.keys import ApiKey
from quoteflow.formats.reference import keyed_reference
from quoteflow.gateway.service import Gateway
from quoteflow.gateway.stream import serve_stream
from quoteflow.http.errors import install_error_handlers
from quoteflow.timestamps import datetime_ns

__all__ = ["create_app"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `quoteflow keys create`.")
_UNAUTHORIZED = {401: {"description": "No API key, or an unknown or revoked one"}}
_FORBIDDEN = {403: {"description": "The key is not entitled to this channel or instrument"}}


class Health(BaseModel):
    """The gateway is up: its connections and each channel's last sequence number."""

    status: str
    epoch: str
    connections: int
    channels: dict[str, int]


class Instrument(BaseModel):
    """An instrument with records on the gateway, and the channels it has them on."""

    instrument: str
    channels: list[str]


class _Json(Response):
    media_type = "application/json"


def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    # before 1970 or after 2262: the ends of the lake's range
    return min(max(datetime_ns(moment), 0), 2**63 - 1)


async def _api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    gateway: Gateway = request.app.state.gateway
    key = await gateway.authenticator.check(credentials.credentials) if credentials else None
    if key is None:
        gateway.audit("refuse", reason="unauthenticated", endpoint="rest",
                      remote=request.client.host if request.client else None)  # fmt: skip
        raise HTTPException(401, "send a valid API key: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return key


Key = Annotated[ApiKey, Depends(_api_key)]


def create_app(gateway: Gateway) -> ASGIApp:
    """Return the ASGI app serving ``gateway``.

    The stream (``/v1/stream``) goes straight to its handler, past FastAPI's
    middleware, which would wrap every frame sent; the REST endpoints are FastAPI's.
    """
    app = FastAPI(
        title="quoteflow gateway",
        summary="The enriched market-data feed over WebSocket and REST.",
        version="1",
    )
    install_error_handlers(app)
    app.state.gateway = gateway

    def entitled(key: ApiKey, channel: str, instrument: str) -> None:
        if not key.allows(channel, instrument):
            gateway.audit("refuse", key, reason="forbidden", channel=channel,
                          instrument=instrument, endpoint="rest")  # fmt: skip
            raise HTTPException(403, f"key {key.name!r} is not entitled to {instrument} on "
                                     f"{channel}")  # fmt: skip

    @app.get("/health", tags=["operations"])
    async def health() -> Health:
        """Return whether the gateway is up, with no key needed."""
        return Health(status="ok", epoch=gateway.epoch, connections=len(gateway.connections),
                      channels=gateway.hub.channels)  # fmt: skip

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    async def metrics() -> Response:
        """Return the gateway's counters in the Prometheus text format."""
        return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/instruments", tags=["data"], responses=_UNAUTHORIZED)
    async def instruments(key: Key) -> list[Instrument]:
        """Return the instruments with records, each with the channels the key may see."""
        listed = []
        for instrument, channels in gateway.hub.instruments().items():
            allowed = [c for c in channels if key.allows(c, instrument)]
            if allowed:
                listed.append(Instrument(instrument=instrument, channels=allowed))
        return listed

    @app.get("/v1/latest/{channel}/{instrument:path}", tags=["data"], response_class=_Json,
             responses={**_UNAUTHORIZED, **_FORBIDDEN,
                        404: {"description": "No record of the instrument on the channel yet"},
                        200: {"description": "The record, as on the stream",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
             )  # fmt: skip
    async def latest(channel: str, instrument: str, key: Key) -> Response:
        """Return the latest record of ``instrument`` on ``channel``."""
        if not gateway.knows(channel):
            raise HTTPException(404, f"no channel {channel!r}; channels: "
                                     f"{', '.join(gateway.channels)}")  # fmt: skip
        entitled(key, channel, instrument)
        delivery = gateway.hub.latest(channel, instrument)
        if delivery is None:
            raise HTTPException(404, f"no {channel} record of {instrument} yet")
        return _Json(delivery.payload)

    @app.get("/v1/bars/{instrument:path}", tags=["data"], response_class=_Json,
             responses={**_UNAUTHORIZED, **_FORBIDDEN,
                        503: {"description": "The gateway has no lake to read bars from"},
                        200: {"description": "Reference bar records, oldest first",
                              "content": {"application/json": {
                                  "schema": {"type": "array", "items": {"type": "object"}}}}}},
             )  # fmt: skip
    async def bars(
        instrument: str,
        key: Key,
        period: Annotated[
            str,
            Query(pattern=r"^[0-9]+[smhd](/[0-9]+[smhd])?$", description="Bar period, e.g. 1m, 1d"),
        ] = "1m",
        start: Annotated[
            datetime | None, Query(description="First bar start (ISO 8601, UTC)")
        ] = None,
        end: Annotated[datetime | None, Query(description="End, exclusive (ISO 8601, UTC)")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> Response:
        """Return recorded bars of ``instrument`` from the lake (refined days, then raw)."""
        entitled(key, f"bars.{period}", instrument)
        bars = gateway.bars
        if bars is None:
            raise HTTPException(503, "this gateway has no lake configured ([lake] root)")
        start_ns, end_ns = _ns(start), _ns(end)

        def read() -> list[dict[str, Any]]:
            found = bars(instrument, period, start_ns, end_ns, limit)
            return [keyed_reference(bar) for bar in found]

        return _Json(msgspec.json.encode(await asyncio.to_thread(read)))

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/v1/stream":
            await serve_stream(gateway, WebSocket(scope, receive, send))
        else:
            await app(scope, receive, send)

    return dispatch
