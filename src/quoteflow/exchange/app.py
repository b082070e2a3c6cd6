"""The order entry API: REST endpoints and a WebSocket over an :class:`Exchange`.

Traders authenticate with ``Authorization: Bearer <API key>`` (keys from
``quoteflow keys create``; the key's name is the trader). A refused order is
answered 400 with ``{"reason": ..., "message": ..., "field": ...}`` and changes
nothing; every other error has the same shape (:mod:`quoteflow.http.errors`).
``/v1/events`` (WebSocket, same header) pushes the trader's own order updates
(``"event": "order"``) and fills (``"event": "fill"``) as JSON text messages,
in the order the engine made them; the counterparty is never named.
Prices are decimal strings in answers; inside the exchange they are ticks.
Every handler runs without awaiting between validating and matching, so
requests are applied one at a time, in the order they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from quoteflow.access.auth import Authenticator
from quoteflow.events.exchange import Execution, OrderUpdate, WindowLeader, WindowStats
from quoteflow.exchange.analytics import TradeAnalytics
from quoteflow.exchange.errors import (
    LogWriteError,
    OrderRejectedError,
    RejectReason,
    UnknownOrderError,
)
from quoteflow.exchange.orders import OrderRequest
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.watchers import Watch
from quoteflow.http.errors import error_response, field_of, install_error_handlers
from quoteflow.http.websocket import CloseCode
from quoteflow.timestamps import iso_utc

__all__ = ["create_exchange_app"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `quoteflow keys create`.")


_ORDER_SCHEMAS, _ORDER_COMPONENTS = msgspec.json.schema_components(
    [OrderRequest], ref_template="#/components/schemas/{name}"
)
_ORDER_BODY = {
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": _ORDER_SCHEMAS[0]}}},
    "security": [{"HTTPBearer": []}],
}  # fmt: skip
"""``POST /v1/orders`` in the spec: the body is an :class:`OrderRequest`, read by msgspec."""


class OrderChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new total quantity and/or price for an open order (``PATCH /v1/orders/{id}``).

    At least one of them, and a value different from the order's: an amendment
    that changes nothing is refused (``no_change``).
    """

    quantity: int | None = None
    price: Decimal | None = None


_CHANGE_SCHEMAS, _CHANGE_COMPONENTS = msgspec.json.schema_components(
    [OrderChange], ref_template="#/components/schemas/{name}"
)
_CHANGE_BODY = {
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": _CHANGE_SCHEMAS[0]}}},
    "security": [{"HTTPBearer": []}],
}  # fmt: skip

_FIELD_OF_REASON = {
    RejectReason.UNKNOWN_SYMBOL: "symbol",
    RejectReason.BAD_QUANTITY: "quantity",
    RejectReason.LOT_SIZE: "quantity",
    RejectReason.PRICE_REQUIRED: "price",
    RejectReason.PRICE_NOT_ALLOWED: "price",
    RejectReason.OFF_TICK: "price",
    RejectReason.OUTSIDE_BAND: "price",
    RejectReason.BAD_PRICE: "price",
    RejectReason.BAD_TIME_IN_FORCE: "time_in_force",
    RejectReason.EXPIRY_REQUIRED: "expire_at",
    RejectReason.EXPIRY_NOT_ALLOWED: "expire_at",
    RejectReason.EXPIRED: "expire_at",
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: "client_order_id",
}


def _decode(body: bytes, kind: type[Any]) -> Any:
    """Return ``body`` as a ``kind`` (strict types: a quantity is a JSON integer); 422 if not."""
    try:
        return msgspec.json.decode(body, type=kind, strict=True)
    except msgspec.DecodeError as error:  # ValidationError included
        message = str(error)
        raise HTTPException(422, {"reason": "invalid_request", "message": message,
                                  "field": field_of(message)}) from None  # fmt: skip


def _price(exchange: Exchange, symbol: str, ticks: int | None) -> str | None:
    return None if ticks is None else str(exchange.instruments[symbol].price(ticks))


def _order_json(exchange: Exchange, update: OrderUpdate) -> dict[str, Any]:
    return {"order_id": update.order_id, "client_order_id": update.client_order_id,
            "symbol": update.instrument, "status": update.status.value, "filled": update.filled,
            "open": update.open, "price": _price(exchange, update.instrument, update.price),
            "reason": update.reason, "ts": update.ts_event}  # fmt: skip


def _trade_json(exchange: Exchange, execution: Execution) -> dict[str, Any]:
    return {"execution_id": execution.execution_id, "symbol": execution.instrument,
            "price": _price(exchange, execution.instrument, execution.price),
            "quantity": execution.quantity, "aggressor": execution.aggressor.value,
            "ts": execution.ts_event}  # fmt: skip


def _fill_json(exchange: Exchange, execution: Execution, trader: str) -> dict[str, Any]:
    """Return ``execution`` as ``trader``'s fill: their order and side, not the counterparty."""
    side = "buy" if execution.buy_trader == trader else "sell"
    order_id = execution.buy_order_id if side == "buy" else execution.sell_order_id
    return {"event": "fill", "execution_id": execution.execution_id, "order_id": order_id,
            "symbol": execution.instrument, "side": side,
            "price": _price(exchange, execution.instrument, execution.price),
            "quantity": execution.quantity, "aggressor": execution.aggressor.value == side,
            "ts": execution.ts_event}  # fmt: skip


def _event_json(exchange: Exchange, event: OrderUpdate | Execution, trader: str) -> bytes:
    if type(event) is Execution:
        return msgspec.json.encode(_fill_json(exchange, event, trader))
    return msgspec.json.encode({"event": "order", **_order_json(exchange, event)})


async def _send_events(websocket: WebSocket, exchange: Exchange, watch: Watch) -> None:
    """Send the watch's events until it overflows; then close the connection (4008)."""
    while not watch.overflowed.is_set():
        event = await watch.queue.get()
        await websocket.send_text(_event_json(exchange, event, watch.trader).decode())
    await websocket.close(CloseCode.SLOW_CONSUMER, "too slow: events were not read in time")


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


def _json(content: Any) -> Response:
    """Return ``content`` as a JSON response, encoded by msgspec (FastAPI's encoder is slow)."""
    return Response(msgspec.json.encode(content), media_type="application/json")


def _rejected(error: OrderRejectedError) -> JSONResponse:
    return error_response(400, error.reason.value, str(error), _FIELD_OF_REASON.get(error.reason))


def _bearer_token(headers: Mapping[str, str]) -> str | None:
    """Return the key of an ``Authorization: Bearer <key>`` header, if there is one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


async def _trader_of(request: HTTPConnection, token: str | None) -> str:
    """Return the trader whose key ``token`` is; HTTP 401 for none or a bad one."""
    authenticator: Authenticator = request.app.state.authenticator
    key = await authenticator.check(token) if token else None
    if key is None:
        raise HTTPException(401, "send a valid API key: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return key.name


async def _trader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    return await _trader_of(request, credentials.credentials if credentials else None)


Trader = Annotated[str, Depends(_trader)]
OrderId = Annotated[int, Path(ge=1, le=2**62)]


def _stats_json(exchange: Exchange, analytics: TradeAnalytics) -> dict[str, Any]:
    def window(record: WindowStats | WindowLeader) -> dict[str, Any]:
        """Return the API's view: the symbol and the window's start and end, in ISO 8601."""
        fields = msgspec.to_builtins(record)
        for name in ("provider", "ts_recv"):
            del fields[name]
        fields["symbol"] = fields.pop("instrument")
        fields["window_start"] = iso_utc(fields.pop("ts_event"))
        fields["window_end"] = iso_utc(fields["window_end"])
        return fields

    current = analytics.open_windows()
    return {"window_ns": analytics.size_ns, "every_ns": analytics.advance_ns,
            "lateness_ns": analytics.lateness_ns, "late_trades": analytics.late,
            "open": {symbol: window(stats) for symbol, stats in current.items()},
            "symbols": {symbol: [window(s) for s in analytics.latest.get(symbol, ())]
                        for symbol in exchange.instruments},
            "leaders": [window(leader) for leader in analytics.leaders]}  # fmt: skip


def create_exchange_app(exchange: Exchange, authenticator: Authenticator,
                        analytics: TradeAnalytics | None = None) -> FastAPI:  # fmt: skip
    """Return the order entry API of ``exchange`` (with ``analytics``' figures at /v1/stats)."""
    app = FastAPI(title="quoteflow exchange", summary="Order entry, books and trades.",
                  version="1")  # fmt: skip
    app.state.authenticator = authenticator
    install_error_handlers(app)

    @app.exception_handler(LogWriteError)
    async def unavailable(_request: Request, error: LogWriteError) -> JSONResponse:
        return error_response(503, "log_write_failed", str(error))

    errors = {400: {"description": "The order was refused: a reason code and a message"},
              401: {"description": "No API key, or an unknown or revoked one"},
              404: {"description": "No such order of yours, or no such symbol"}}  # fmt: skip

    @app.websocket("/v1/events")
    async def events(websocket: WebSocket) -> None:
        """Push the trader's order updates and fills as they happen."""
        token = _bearer_token(websocket.headers)
        key = await authenticator.check(token) if token else None
        await websocket.accept()
        if key is None:
            await websocket.close(CloseCode.UNAUTHENTICATED, "send a valid API key: "
                                  "Authorization: Bearer <key>")  # fmt: skip
            return
        watch = exchange.watchers.open(key.name)
        tasks = [asyncio.ensure_future(_send_events(websocket, exchange, watch)),
                 asyncio.ensure_future(_until_closed(websocket))]  # fmt: skip
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exchange.watchers.close(watch)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @app.get("/v1/instruments", tags=["reference"])
    async def instruments() -> list[dict[str, Any]]:
        """Return the listed instruments: tick, lot, band, currency, calendar."""
        return [msgspec.to_builtins(i, enc_hook=str) for i in exchange.instruments.values()]

    @app.post("/v1/orders", tags=["orders"], responses=errors, openapi_extra=_ORDER_BODY)
    async def place(request: Request) -> Any:
        """Place an order; the answer is its state once matched (a retry: the same state)."""
        # the busiest endpoint: msgspec reads the body straight into an order, no FastAPI model
        trader = await _trader_of(request, _bearer_token(request.headers))
        parsed = _decode(await request.body(), OrderRequest)
        try:
            update = exchange.place(parsed, trader)
        except OrderRejectedError as error:
            return _rejected(error)
        return _json(_order_json(exchange, await exchange.durable(update)))

    @app.get("/v1/orders/{order_id}", tags=["orders"], responses=errors)
    async def order(order_id: OrderId, trader: Trader) -> Any:
        """Return the state of one of your orders."""
        try:
            return _json(_order_json(exchange, exchange.order(order_id, trader)))
        except UnknownOrderError as error:
            raise HTTPException(404, str(error)) from None

    @app.delete("/v1/orders/{order_id}", tags=["orders"], responses=errors)
    async def cancel(order_id: OrderId, trader: Trader) -> Any:
        """Cancel one of your open orders."""
        try:
            update = exchange.cancel(order_id, trader)
        except UnknownOrderError as error:
            raise HTTPException(404, str(error)) from None
        return _json(_order_json(exchange, await exchange.durable(update)))

    @app.patch("/v1/orders/{order_id}", tags=["orders"], responses=errors,
               openapi_extra=_CHANGE_BODY)  # fmt: skip
    async def amend(order_id: OrderId, request: Request, trader: Trader) -> Any:
        """Reduce the quantity (keeps priority) or change the price (loses it)."""
        change = _decode(await request.body(), OrderChange)
        try:
            update = exchange.amend(order_id, trader, quantity=change.quantity,
                                    price=change.price)  # fmt: skip
        except UnknownOrderError as error:
            raise HTTPException(404, str(error)) from None
        except OrderRejectedError as error:
            return _rejected(error)
        return _json(_order_json(exchange, await exchange.durable(update)))

    @app.get("/v1/book/{symbol}", tags=["market data"], responses=errors)
    async def book(symbol: str, depth: Annotated[int, Query(ge=1, le=1000)] = 10) -> Any:
        """Return the best ``depth`` price levels of each side."""
        if symbol not in exchange.instruments:
            raise HTTPException(404, f"no instrument {symbol!r}")
        bids, asks = exchange.depth(symbol, depth)
        level = lambda p, q: {"price": _price(exchange, symbol, p), "quantity": q}  # noqa: E731
        return {"symbol": symbol, "bids": [level(*b) for b in bids],
                "asks": [level(*a) for a in asks]}  # fmt: skip

    @app.get("/v1/stats", tags=["market data"])
    async def stats() -> Any:
        """Return the latest closed windows per symbol (SMA, open, close, profit) and leaders.

        ``open`` holds each symbol's next window to close, with its figures so far.
        """
        if analytics is None:
            raise HTTPException(404, "trade analytics are not running")
        return _json(_stats_json(exchange, analytics))

    @app.get("/v1/trades/{symbol}", tags=["market data"], responses=errors)
    async def trades(symbol: str, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        """Return the latest trades of ``symbol``, newest last."""
        if symbol not in exchange.trades:
            raise HTTPException(404, f"no instrument {symbol!r}")
        return _json([_trade_json(exchange, t) for t in list(exchange.trades[symbol])[-limit:]])

    described = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's spec, with the schemas the order body refers to."""
        if app.openapi_schema is None:
            spec = described()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(_ORDER_COMPONENTS)
            schemas.update(_CHANGE_COMPONENTS)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app
