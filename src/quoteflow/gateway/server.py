"""Running the gateway: uvicorn inside the caller's event loop, next to the pipeline.

:class:`GatewayServer` serves a :class:`Gateway`
(:class:`~quoteflow.http.server.AsgiServer`) with TLS when a certificate is
configured, and watches for revoked keys. Stopping is :meth:`GatewayServer.stop`.
"""

from __future__ import annotations

from quoteflow.gateway.app import create_app
from quoteflow.gateway.config import GatewaySettings
from quoteflow.gateway.service import Gateway
from quoteflow.http.server import AsgiServer

__all__ = ["GatewayServer", "gateway_channels"]


def gateway_channels(bars_topic: str) -> tuple[str, ...]:
    """Return the channels a gateway serves, given the enrichment job's bar topic.

    Trade corrections and cancels are served as they come from the feeds, so a
    subscriber can fix what it built from the trades.
    """
    return ("quotes.enriched", "trades.enriched", "trades.corrections", "trades.cancels",
            bars_topic, "alerts", "signals")  # fmt: skip


class GatewayServer(AsgiServer):
    """Serve a :class:`Gateway` over HTTP(S) and WebSocket in the running event loop."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        certfile: str | None = None,
        keyfile: str | None = None,
        send_buffer_bytes: int | None = None,
    ) -> None:
        super().__init__(create_app(gateway), name="gateway", host=host, port=port,
                         certfile=certfile, keyfile=keyfile, send_buffer_bytes=send_buffer_bytes,
                         background=[gateway.watch_revocations])  # fmt: skip
        self.gateway = gateway

    @classmethod
    def from_settings(cls, gateway: Gateway, config: GatewaySettings) -> GatewayServer:
        """Return a server listening where ``[gateway]`` says, with its TLS files."""
        return cls(gateway, host=config.host, port=config.port, certfile=config.tls_certfile,
                   keyfile=config.tls_keyfile,
                   send_buffer_bytes=config.send_buffer_bytes)  # fmt: skip

    @property
    def stream_url(self) -> str:
        """The WebSocket URL subscribers connect to, e.g. ``ws://localhost:8765/v1/stream``."""
        return self.url.replace("http", "ws", 1) + "/v1/stream"

    async def stop(self) -> None:
        """Close the connections (code 1012, come back later), stop listening, keep the journal."""
        await super().stop()
        if self.gateway.hub.journal is not None:
            await self.gateway.hub.journal.close()
