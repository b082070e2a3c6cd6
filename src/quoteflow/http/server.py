"""An ASGI app on uvicorn inside the caller's event loop, for quoteflow's servers.

The caller owns the signals (uvicorn's own handlers are left out) and stops the
server with :meth:`AsgiServer.stop`. The listening socket is quoteflow's own:
accepted connections get TCP_NODELAY, an optional smaller kernel send buffer,
and a taken address is a clear error instead of uvicorn exiting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import uvicorn

from quoteflow.errors import ConfigError

__all__ = ["AsgiServer"]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to the application it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AsgiServer:
    """Serve an ASGI app over HTTP(S) and WebSocket in the running event loop.

    ``background`` coroutines run while the server does and are cancelled when it stops.
    HTTP is parsed by httptools (C); uvicorn's pure-Python h11 took a third of the
    exchange's time per order.
    """

    def __init__(
        self,
        app: Any,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        send_buffer_bytes: int | None = None,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.name = name
        self.send_buffer_bytes = send_buffer_bytes
        self.tls = certfile is not None
        config = uvicorn.Config(
            app, host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
            http="httptools", ws="websockets-sansio", log_level="warning", lifespan="off",
            ws_max_size=64 * 1024,
        )  # fmt: skip
        self._server = _EmbeddedServer(config)
        self._background = tuple(background)
        self._tasks: list[asyncio.Task[Any]] = []
        self.port = port

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._server.config.host

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://localhost:8765``."""
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

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
            raise ConfigError(f"the {self.name} cannot listen on {self.host}:{self.port}: "
                              f"{error.strerror or error}") from None  # fmt: skip
        listener.setblocking(False)
        return listener

    async def start(self) -> None:
        """Listen, and start the background tasks.

        The objects alive by then (modules, the app) are frozen out of the garbage
        collector (``gc.freeze``): a full collection would otherwise walk them all
        and stall every connection for tens of milliseconds now and then.
        Raises ConfigError when the address is taken or the TLS files cannot be loaded.
        """
        try:
            self._server.config.load()
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"the {self.name}'s TLS certificate or key: {error}") from None
        listener = self._listen()
        self.port = listener.getsockname()[1]
        self._tasks = [asyncio.create_task(self._server.serve(sockets=[listener]))]
        self._tasks += [asyncio.create_task(task()) for task in self._background]
        while not self._server.started:
            if self._tasks[0].done():
                await self._cancel_background()
                self._tasks[0].result()
            await asyncio.sleep(0.01)
        gc.freeze()

    async def _cancel_background(self) -> None:
        for task in self._tasks[1:]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """Close the connections (WebSockets get 1012), stop listening and the background.

        Does nothing when ``start`` did not get as far as listening.
        """
        if not self._tasks:
            return
        self._server.should_exit = True
        await self._tasks[0]
        await self._cancel_background()
