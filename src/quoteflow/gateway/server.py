"""Running the gateway: uvicorn inside the caller's event loop, next to the pipeline.

:func:`build_gateway` assembles a :class:`Gateway` from the settings (keys,
audit log, replay window, lake journal); :class:`GatewayServer` serves it on
uvicorn with TLS when a certificate is configured, and watches for revoked keys.
The caller owns the signals: stopping is :meth:`GatewayServer.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import socket
import ssl
from collections.abc import Iterator

import uvicorn

from quoteflow.config import Settings
from quoteflow.errors import ConfigError
from quoteflow.gateway.app import create_app
from quoteflow.gateway.audit import AuditLog
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.journal import Journal
from quoteflow.gateway.keys import KeyStore
from quoteflow.gateway.service import Gateway, GatewayOptions
from quoteflow.lake.storage import LakeRoot

__all__ = ["GatewayServer", "build_gateway", "gateway_channels"]


def gateway_channels(bars_topic: str) -> tuple[str, ...]:
    """Return the channels a gateway serves, given the enrichment job's bar topic."""
    return ("quotes.enriched", "trades.enriched", bars_topic, "alerts", "signals")


def build_gateway(
    settings: Settings, channels: tuple[str, ...], *, keys: KeyStore | None = None
) -> Gateway:
    """Return the gateway the settings describe; ``keys`` overrides ``[gateway] keys_db``."""
    config = settings.gateway
    epoch = secrets.token_hex(6)
    lake = LakeRoot.open(settings.lake.root, settings.lake.endpoint_url)
    journal = Journal(lake, epoch) if config.journal else None
    options = GatewayOptions(send_queue=config.send_queue, auth_timeout_s=config.auth_timeout_s)
    return Gateway(
        Hub(window=config.replay_window, journal=journal),
        keys or KeyStore(config.keys_db),
        channels,
        options=options,
        audit=AuditLog(config.audit_log) if config.audit_log else None,
        lake=lake,
        epoch=epoch,
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to the application it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GatewayServer:
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
        self.gateway = gateway
        self.send_buffer_bytes = send_buffer_bytes
        self.tls = certfile is not None
        config = uvicorn.Config(
            create_app(gateway), host=host, port=port, ssl_certfile=certfile,
            ssl_keyfile=keyfile, ws="websockets-sansio", log_level="warning",
            lifespan="off", ws_max_size=64 * 1024,
        )  # fmt: skip
        self._server = _EmbeddedServer(config)
        self._tasks: list[asyncio.Task[None]] = []
        self.port = port

    @classmethod
    def from_settings(cls, gateway: Gateway, settings: Settings) -> GatewayServer:
        """Return a server listening where ``[gateway]`` says, with its TLS files."""
        config = settings.gateway
        return cls(gateway, host=config.host, port=config.port, certfile=config.tls_certfile,
                   keyfile=config.tls_keyfile,
                   send_buffer_bytes=config.send_buffer_bytes)  # fmt: skip

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._server.config.host

    @property
    def url(self) -> str:
        """The base URL of the REST endpoints, e.g. ``http://127.0.0.1:8765``."""
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """The WebSocket URL subscribers connect to, e.g. ``ws://127.0.0.1:8765/v1/stream``."""
        return self.url.replace("http", "ws", 1) + "/v1/stream"

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on the accepted connections;
        # without it Nagle's algorithm holds small frames back for up to 40 ms
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.send_buffer_bytes:  # connections inherit it: less to absorb for a stalled client
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)
        try:
            listener.bind((self.host, self.port))
        except OSError as error:
            listener.close()
            raise ConfigError(f"the gateway cannot listen on {self.host}:{self.port}: "
                              f"{error.strerror or error}") from None  # fmt: skip
        listener.setblocking(False)
        return listener

    async def start(self) -> None:
        """Listen, and start watching for revoked keys.

        The objects alive by then (modules, the app) are frozen out of the garbage
        collector (``gc.freeze``): a full collection would otherwise walk them all
        and stall every connection for tens of milliseconds now and then.
        Raises ConfigError when the address is taken or the TLS files cannot be loaded.
        """
        try:
            self._server.config.load()
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"the gateway's TLS certificate or key: {error}") from None
        listener = self._listen()
        self.port = listener.getsockname()[1]
        self._tasks = [asyncio.create_task(self._server.serve(sockets=[listener])),
                       asyncio.create_task(self.gateway.watch_revocations())]  # fmt: skip
        while not self._server.started:
            if self._tasks[0].done():
                await self._cancel_watcher()
                self._tasks[0].result()
            await asyncio.sleep(0.01)
        gc.freeze()

    async def _cancel_watcher(self) -> None:
        watcher = self._tasks[1]
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    async def stop(self) -> None:
        """Close the connections (code 1012, come back later), stop listening, keep the journal."""
        self._server.should_exit = True
        await self._tasks[0]
        await self._cancel_watcher()
        if self.gateway.hub.journal is not None:
            await self.gateway.hub.journal.close()
