"""A trader's client of the exchange's order entry API (REST and the events WebSocket).

    async with ExchangeClient("http://127.0.0.1:8766", key) as exchange:
        order = await exchange.place(client_order_id="o1", symbol="ACME", side="buy",
                                     quantity=100, price="25.40")
        async for event in exchange.events():
            print(event)

A refused request raises :class:`ExchangeRequestError` with the HTTP status, the
exchange's reason code and its message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp

from quoteflow.errors import QuoteflowError
from quoteflow.exchange.errors import ExchangeRequestError

__all__ = ["ExchangeClient"]


class ExchangeClient:
    """One trader's session with the exchange at ``url`` (``http://host:port``)."""

    def __init__(
        self, url: str, key: str, *, timeout_s: float = 10.0, connect_wait_s: float = 0.0
    ) -> None:
        """``connect_wait_s``: how long to keep trying while nothing listens at ``url`` yet.

        A refused connection sent nothing, so trying again is safe for every request.
        """
        self.url = url.rstrip("/")
        self._connect_wait_s = connect_wait_s
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ExchangeClient:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:  # fmt: skip
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> Any:  # fmt: skip
        if self._session is None:
            raise RuntimeError("use the client in 'async with'")
        deadline = asyncio.get_running_loop().time() + self._connect_wait_s
        while True:
            try:
                async with self._session.request(method, self.url + path, json=body,
                                                 params=params) as answer:  # fmt: skip
                    content = await answer.json(content_type=None)
                    if answer.status >= 400:
                        raise _refusal(answer.status, content)
                    return content
            except aiohttp.ClientConnectorError as error:
                if asyncio.get_running_loop().time() >= deadline:
                    raise QuoteflowError(
                        f"cannot reach the exchange at {self.url}: {error}"
                    ) from error
                await asyncio.sleep(0.2)
            except aiohttp.ClientError as error:
                raise QuoteflowError(f"cannot reach the exchange at {self.url}: {error}") from error

    async def place(self, **order: Any) -> dict[str, Any]:
        """Place an order (fields of ``POST /v1/orders``); return its state once matched."""
        return await self._call("POST", "/v1/orders", {k: v for k, v in order.items()
                                                       if v is not None})  # fmt: skip

    async def cancel(self, order_id: int) -> dict[str, Any]:
        """Cancel an open order; return its state."""
        return await self._call("DELETE", f"/v1/orders/{order_id}")

    async def amend(self, order_id: int, *, quantity: int | None = None,
                    price: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Change an open order's quantity and/or price; return its state."""
        change = {k: v for k, v in (("quantity", quantity), ("price", price)) if v is not None}
        return await self._call("PATCH", f"/v1/orders/{order_id}", change)

    async def order(self, order_id: int) -> dict[str, Any]:
        """Return the state of one of your orders."""
        return await self._call("GET", f"/v1/orders/{order_id}")

    async def book(self, symbol: str, depth: int = 10) -> dict[str, Any]:
        """Return the best ``depth`` levels of each side of ``symbol``'s book."""
        return await self._call("GET", f"/v1/book/{symbol}", params={"depth": depth})

    async def instruments(self) -> list[dict[str, Any]]:
        """Return the listed instruments."""
        return await self._call("GET", "/v1/instruments")

    async def stats(self) -> dict[str, Any]:
        """Return the trade analytics: latest windows per symbol and leaders."""
        return await self._call("GET", "/v1/stats")

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield your order updates and fills as they happen, until the connection closes."""
        if self._session is None:
            raise RuntimeError("use the client in 'async with'")
        url = self.url.replace("http", "ws", 1) + "/v1/events"
        async with self._session.ws_connect(url, timeout=aiohttp.ClientWSTimeout()) as socket:
            async for message in socket:
                if message.type is aiohttp.WSMsgType.TEXT:
                    yield message.json()
            if socket.close_code not in (None, 1000):
                why = f"{socket.close_code} {socket.extra or ''}".strip()
                raise QuoteflowError(f"the exchange closed the events stream: {why}")


def _refusal(status: int, content: Any) -> ExchangeRequestError:
    if isinstance(content, dict) and "reason" in content:
        return ExchangeRequestError(status, str(content["reason"]), str(content.get("message")))
    detail = content.get("detail") if isinstance(content, dict) else content
    return ExchangeRequestError(status, "http_" + str(status), str(detail))
