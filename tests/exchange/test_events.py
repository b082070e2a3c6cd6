"""The WebSocket of each trader's own order events, and the engine's records on the bus."""

import asyncio
import json

import pytest
import websockets

from quoteflow.access.keys import KeyStore
from quoteflow.bus.memory import MemoryBus
from quoteflow.events import Trade
from quoteflow.events.exchange import BookUpdate, Execution, OrderUpdate
from tests.exchange.test_serve import call, serving, settings_in


@pytest.fixture
def setup(tmp_path):
    settings = settings_in(tmp_path)
    keys = KeyStore(tmp_path / "keys.db")
    tokens = {name: keys.create(name, channels=["*"], instruments=["*"])[1]
              for name in ("alice", "bob")}  # fmt: skip
    return settings, tokens


def order(client_order_id, side, quantity, price="64000"):
    return {"client_order_id": client_order_id, "symbol": "BTC-USD", "side": side,
            "quantity": quantity, "price": price}  # fmt: skip


async def received(socket, count):
    async with asyncio.timeout(10):
        return [json.loads(await socket.recv()) for _ in range(count)]


async def test_each_trader_gets_their_own_acks_fills_and_cancels_in_order(setup):
    settings, tokens = setup
    async with serving(settings) as url:
        events = url.replace("http", "ws") + "/v1/events"
        auth = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
        async with websockets.connect(events, additional_headers=auth["alice"]) as alice, \
                websockets.connect(events, additional_headers=auth["bob"]) as bob:  # fmt: skip
            await asyncio.sleep(0.1)  # both watches open
            post = lambda name, body: call("POST", f"{url}/v1/orders", tokens[name], body)  # noqa: E731
            _, resting = await asyncio.to_thread(post, "alice", order("a1", "sell", 3))
            _, taker = await asyncio.to_thread(post, "bob", order("b1", "buy", 1))
            delete = f"{url}/v1/orders/{resting['order_id']}"
            await asyncio.to_thread(call, "DELETE", delete, tokens["alice"])
            mine = await received(alice, 4)
            theirs = await received(bob, 3)
    assert [(e["event"], e.get("status")) for e in mine] == [
        ("order", "new"),
        ("fill", None),
        ("order", "partially_filled"),
        ("order", "cancelled"),
    ]
    fill = mine[1]
    assert (fill["order_id"], fill["side"], fill["price"], fill["quantity"], fill["aggressor"]) \
        == (resting["order_id"], "sell", "64000.0", 1, False)  # fmt: skip
    assert "buy_trader" not in fill and "bob" not in json.dumps(mine)  # no counterparty
    assert [(e["event"], e.get("status")) for e in theirs] == [
        ("order", "new"),
        ("fill", None),
        ("order", "filled"),
    ]
    assert theirs[1]["aggressor"] is True and theirs[2]["order_id"] == taker["order_id"]


async def test_no_key_or_a_wrong_key_closes_the_websocket_with_4001(setup):
    settings, _ = setup
    async with serving(settings) as url:
        events = url.replace("http", "ws") + "/v1/events"
        for headers in ({}, {"Authorization": "Bearer qf_nope"}):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with websockets.connect(events, additional_headers=headers) as socket:
                    await socket.recv()
            assert closed.value.rcvd.code == 4001


async def test_the_engine_records_go_to_their_topics_and_trades_are_market_data(setup):
    settings, tokens = setup
    bus = MemoryBus()
    topics = ["orders", "exchange.order_updates", "exchange.executions", "exchange.book",
              "trades"]  # fmt: skip
    consumer = bus.subscribe("test", topics)
    async with serving(settings, bus) as url:
        post = lambda name, body: call("POST", f"{url}/v1/orders", tokens[name], body)  # noqa: E731
        await asyncio.to_thread(post, "alice", order("a1", "sell", 3, "64000.5"))
        await asyncio.to_thread(post, "bob", order("b1", "buy", 2, "64001"))
        seen = {}
        async with asyncio.timeout(10):
            while len(seen.get("trades", [])) < 1 or len(seen.get("exchange.book", [])) < 2:
                for message in await consumer.poll(timeout_s=0.5):
                    seen.setdefault(message.topic, []).append(message.value)
    assert [m.sequence for m in seen["orders"]] == [1, 2]
    assert all(isinstance(u, OrderUpdate) for u in seen["exchange.order_updates"])
    (execution,) = seen["exchange.executions"]
    assert isinstance(execution, Execution) and execution.price == 128001  # ticks of 0.5
    (trade,) = seen["trades"]
    ts = execution.ts_event
    assert trade == Trade("EXCHANGE", "BTC-USD", ts, execution.ts_recv, price=64000.5,
                          size=2.0, trade_id="BTC-USD-1", exchange="EXCHANGE",
                          aggressor_side="buy")  # fmt: skip
    assert seen["exchange.book"][-1] == BookUpdate("EXCHANGE", "BTC-USD", ts, ts, [], [(128001, 1)],
                                                   None, (128001, 1), 2)  # fmt: skip
