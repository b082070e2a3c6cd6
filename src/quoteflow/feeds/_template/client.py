"""The example provider's live feed: subscribe on connecting, then read frames of quotes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import aiohttp
import msgspec

from quoteflow.errors import AuthenticationError
from quoteflow.feeds._template.config import ExampleSettings
from quoteflow.feeds._template.parsing import parse_frame
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.connection import WebSocketFeed, receive_frame

__all__ = ["ExampleStream"]


class ExampleStream(WebSocketFeed):
    """Quotes of ``symbols``: the connection sends a subscription, the server answers ``ok``."""

    name: ClassVar[str] = "example"

    def __init__(self, settings: ExampleSettings, symbols: Sequence[str]) -> None:
        super().__init__(settings.policy())
        self.settings = settings
        self.symbols = list(symbols)

    def _url(self) -> str:
        return self.settings.stream_url

    async def _open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        await ws.send_str(msgspec.json.encode({"key": key, "subscribe": self.symbols}).decode())
        answer = await receive_frame(ws)
        if answer != b'"ok"':
            raise AuthenticationError(f"example: subscription refused: {answer[:200]!r}")

    def _on_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized | None:
        return parse_frame(frame, ts_recv_ns)
