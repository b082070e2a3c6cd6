"""A running gateway on loopback, keys, and a TCP proxy that can cut connections."""

import asyncio
import contextlib
import json
import time

import pytest
from websockets.asyncio.client import connect

from quoteflow.access.keys import KeyStore
from quoteflow.app.gateway import lake_bars
from quoteflow.events import EnrichedQuote
from quoteflow.gateway.audit import AuditLog
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.journal import Journal
from quoteflow.gateway.server import GatewayServer, gateway_channels
from quoteflow.gateway.service import Gateway, GatewayOptions
from quoteflow.gateway.sink import encode_record
from quoteflow.storage import LakeRoot

CHANNELS = gateway_channels("bars.1m")


@pytest.fixture
def keys(tmp_path):
    return KeyStore(tmp_path / "keys.db")


@pytest.fixture
async def start_gateway(tmp_path, keys):
    """Start gateways on free loopback ports; stop them after the test."""
    servers = []

    async def start(window=1_000, file_records=100, send_buffer_bytes=None, **options):
        lake = LakeRoot.open(tmp_path / "lake")
        hub = Hub(window=window, journal=Journal(lake, "e1", file_records=file_records))
        options = {"auth_timeout_s": 1.0, "revocation_check_s": 0.1, **options}
        audit = AuditLog(tmp_path / "audit.jsonl")
        gateway = Gateway(hub, keys, CHANNELS, options=GatewayOptions(**options), audit=audit,
                          bars=lake_bars(lake))  # fmt: skip
        server = GatewayServer(gateway, port=0, send_buffer_bytes=send_buffer_bytes)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def quote(instrument, bid, ts_ns=None):
    ts_ns = ts_ns or time.time_ns()
    return EnrichedQuote(
        "alpaca", instrument, ts_ns, ts_ns, bid_price=float(bid), ask_price=bid + 1.0
    )


def publish(gateway, instruments, channel="quotes.enriched", start=0):
    """Publish one quote per instrument in one batch; return the deliveries."""
    records = [(i, quote(i, start + n)) for n, i in enumerate(instruments)]
    return gateway.hub.publish(channel, records, encode_record).deliveries


@contextlib.asynccontextmanager
async def session(server, key=None, **connect_options):
    """A raw WebSocket connection, authenticated with ``key`` when given."""
    async with connect(server.stream_url, **connect_options) as websocket:
        if key is not None:
            await websocket.send(json.dumps({"op": "auth", "key": key}))
            welcome = json.loads(await websocket.recv())
            assert welcome["op"] == "welcome", welcome
        yield websocket


async def receive(websocket, timeout=5.0):
    return json.loads(await asyncio.wait_for(websocket.recv(), timeout))


class CuttingProxy:
    """Forward TCP connections to ``port``; :meth:`cut` drops every open one at once.

    While ``refusing`` is set, new connections are dropped as soon as they arrive.
    """

    def __init__(self, port):
        self.port = port
        self.listen_port = None
        self.refusing = False
        self._writers = set()
        self._server = None

    async def start(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, client_reader, client_writer):
        if self.refusing:
            client_writer.transport.abort()
            return
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writers |= {client_writer, server_writer}

        async def pump(reader, writer):
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pump(client_reader, server_writer), pump(server_reader, client_writer))

    def cut(self):
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def stop(self):
        self.cut()
        self._server.close()
