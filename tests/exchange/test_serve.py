"""``quoteflow exchange serve`` over a real socket: orders survive a restart of the server."""

import asyncio
import contextlib
import json
import socket
import urllib.error
import urllib.request

import pytest

from quoteflow.access.keys import KeyStore
from quoteflow.app.exchange import serve_exchange
from quoteflow.app.settings import Settings
from quoteflow.errors import ConfigError

LISTING = """
[[instruments]]
symbol = "BTC-USD"
tick_size = "0.5"
reference_price = "64000"
calendar = "24/7"
"""


def call(method, url, key, body=None):
    request = urllib.request.Request(url, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        data=None if body is None else json.dumps(body).encode())  # fmt: skip
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.asynccontextmanager
async def serving(settings, bus=None):
    """Run ``quoteflow exchange serve`` in the loop; yield its URL."""
    servers, stop = [], asyncio.Event()
    started = lambda running: servers.append(running.server)  # noqa: E731
    task = asyncio.create_task(serve_exchange(settings, bus=bus, on_start=started, stop=stop))
    try:
        async with asyncio.timeout(30):
            while not servers:
                await asyncio.sleep(0.01)
        yield servers[0].url
    finally:
        stop.set()
        await task


async def running(settings, work):
    async with serving(settings) as url:
        return await asyncio.to_thread(work, url)


def settings_in(directory):
    """Settings of an exchange on a free port, its listing, store and keys in ``directory``."""
    (directory / "listing.toml").write_text(LISTING)
    return Settings(
        exchange={"instruments": str(directory / "listing.toml"), "db": str(directory / "x.db"),
                  "port": 0},
        gateway={"keys_db": str(directory / "keys.db")},
    )  # fmt: skip


async def test_orders_placed_over_http_are_there_after_a_restart(tmp_path):
    settings = settings_in(tmp_path)
    _, key = KeyStore(tmp_path / "keys.db").create("alice", channels=["*"], instruments=["*"])
    order = {"client_order_id": "o1", "symbol": "BTC-USD", "side": "buy", "quantity": 2,
             "price": "63990.5", "time_in_force": "GTC"}  # fmt: skip

    def place(url):
        return call("POST", f"{url}/v1/orders", key, order)

    status, placed = await running(settings, place)
    assert status == 200 and (placed["status"], placed["price"]) == ("new", "63990.5")

    def look(url):
        return (
            call("GET", f"{url}/v1/orders/{placed['order_id']}", key),
            call("GET", f"{url}/v1/book/BTC-USD", key),
            place(url),
        )

    (status, again), (_, book), retried = await running(settings, look)
    assert status == 200 and again == placed
    assert book["bids"] == [{"price": "63990.5", "quantity": 2}]
    assert retried == (200, placed)  # the retry after the restart is still the same order


async def test_a_taken_port_is_a_clear_error(tmp_path):
    settings = settings_in(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.exchange.port = port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve_exchange(settings, stop=asyncio.Event())
