"""The order entry API: the validation matrix over HTTP, own orders only, nothing half-applied."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from quoteflow.access.auth import Authenticator
from quoteflow.access.keys import KeyStore
from quoteflow.exchange.app import create_exchange_app
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from tests.exchange.test_service import INSTRUMENTS, Clock


@pytest.fixture
async def api(tmp_path):
    keys = KeyStore(tmp_path / "keys.db")
    tokens = {name: keys.create(name, channels=["*"], instruments=["*"])[1]
              for name in ("alice", "bob")}  # fmt: skip
    exchange = Exchange(INSTRUMENTS, CommandStore(tmp_path / "x.db"), clock=Clock())
    app = create_exchange_app(exchange, Authenticator(keys))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://exchange") as client:  # fmt: skip
        client.as_trader = lambda name: {"Authorization": f"Bearer {tokens[name]}"}
        client.exchange = exchange
        client.keys = keys
        yield client


def order(**fields):
    return {"client_order_id": "c1", "symbol": "ACME", "side": "buy", "quantity": 10,
            "price": "10.00", **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"symbol": "NOPE"}, "unknown_symbol"),
        ({"quantity": 0}, "bad_quantity"),
        ({"quantity": 15}, "lot_size"),
        ({"price": "10.005"}, "off_tick"),
        ({"price": "11.50"}, "outside_band"),
        ({"price": None}, "price_required"),
        ({"type": "market"}, "price_not_allowed"),
        ({"time_in_force": "GTD"}, "expiry_required"),
        ({"time_in_force": "GTD", "expire_at": "2020-01-01T00:00:00Z"}, "expired"),
        ({"expire_at": "2030-01-01T00:00:00Z"}, "expiry_not_allowed"),
    ],
)
async def test_each_bad_order_gets_its_reason_and_nothing_is_applied(api, fields, reason):
    answer = await api.post(
        "/v1/orders", json={**order(), **fields}, headers=api.as_trader("alice")
    )
    assert answer.status_code == 400 and answer.json()["reason"] == reason
    assert answer.json()["message"]
    assert list(api.exchange.store.commands()) == [] and api.exchange.orders == {}


async def test_orders_trade_and_each_trader_sees_only_their_own(api):
    alice, bob = api.as_trader("alice"), api.as_trader("bob")
    placed = (await api.post("/v1/orders", json=order(quantity=30), headers=alice)).json()
    assert (placed["status"], placed["price"], placed["open"]) == ("new", "10.00", 30)
    sold = (await api.post("/v1/orders", json=order(side="sell", price="9.90"), headers=bob)).json()
    assert (sold["status"], sold["filled"]) == ("filled", 10)
    assert (await api.get(f"/v1/orders/{placed['order_id']}", headers=alice)).json()["filled"] == 10
    assert (await api.get(f"/v1/orders/{placed['order_id']}", headers=bob)).status_code == 404
    assert (await api.delete(f"/v1/orders/{placed['order_id']}", headers=bob)).status_code == 404
    book = (await api.get("/v1/book/ACME?depth=5")).json()
    assert book["bids"] == [{"price": "10.00", "quantity": 20}] and book["asks"] == []
    trades = (await api.get("/v1/trades/ACME")).json()
    assert [(t["price"], t["quantity"], t["aggressor"]) for t in trades] == [
        ("10.00", 10, "sell")]  # fmt: skip


async def test_retries_amends_cancels_and_duplicates_over_http(api):
    alice = api.as_trader("alice")
    first = (await api.post("/v1/orders", json=order(), headers=alice)).json()
    assert (await api.post("/v1/orders", json=order(), headers=alice)).json() == first
    duplicate = await api.post("/v1/orders", json=order(quantity=20), headers=alice)
    assert duplicate.status_code == 400
    assert duplicate.json()["reason"] == "duplicate_client_order_id"
    path = f"/v1/orders/{first['order_id']}"
    assert (await api.patch(path, json={"quantity": 15}, headers=alice)).json()[
        "reason"
    ] == "lot_size"
    moved = (await api.patch(path, json={"price": "10.01", "quantity": 20}, headers=alice)).json()
    assert (moved["status"], moved["price"], moved["open"]) == ("replaced", "10.01", 20)
    assert (await api.delete(path, headers=alice)).json()["status"] == "cancelled"
    assert (await api.patch(path, json={"quantity": 10}, headers=alice)).status_code == 404


async def test_requests_without_a_valid_key_are_refused(api):
    assert (await api.post("/v1/orders", json=order())).status_code == 401
    wrong = {"Authorization": "Bearer qf_00000000_nope"}
    assert (await api.post("/v1/orders", json=order(), headers=wrong)).status_code == 401
    assert (await api.get("/v1/orders/1", headers=wrong)).status_code == 401
    malformed = await api.post(
        "/v1/orders", json=order(side="hold"), headers=api.as_trader("alice")
    )
    assert malformed.status_code == 422
    listed = (await api.get("/v1/instruments")).json()
    assert listed[0]["symbol"] == "ACME" and listed[0]["tick_size"] == "0.01"


async def test_a_revoked_key_stops_working_within_a_quarter_second(api):
    assert (await api.get("/v1/orders/1", headers=api.as_trader("bob"))).status_code == 404
    api.keys.revoke("bob")
    await asyncio.sleep(0.3)
    answer = await api.get("/v1/orders/1", headers=api.as_trader("bob"))
    assert answer.status_code == 401


def _book(api):
    return api.exchange.depth("ACME", 100), len(list(api.exchange.store.commands()))


EXTREME_PRICES = ["Infinity", "-Infinity", "NaN", "sNaN", "1e100000", "-1e100000", "-1", "0",
                  "9" * 5_000, "0." + "0" * 5_000 + "1", 1e308, -0.0]  # fmt: skip


@pytest.mark.parametrize("price", EXTREME_PRICES, ids=lambda p: str(p)[:12])
async def test_extreme_prices_are_refused_with_a_reason_and_change_nothing(api, price):
    alice = api.as_trader("alice")
    resting = (await api.post("/v1/orders", json=order(client_order_id="r"), headers=alice)).json()
    before = _book(api)
    placed = await api.post("/v1/orders", json=order(price=price), headers=alice)
    amended = await api.patch(f"/v1/orders/{resting['order_id']}", json={"price": price},
                              headers=alice)  # fmt: skip
    for answer in (placed, amended):
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["reason"] in ("bad_price", "outside_band", "off_tick")
        assert body["field"] == "price" and body["message"]
    assert _book(api) == before


@pytest.mark.parametrize("quantity", ["100", 10.0, 1e1, True, None, [10]])
async def test_a_quantity_must_be_a_json_integer(api, quantity):
    answer = await api.post("/v1/orders", json=order(quantity=quantity),
                            headers=api.as_trader("alice"))  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["reason"] == "invalid_request"
    assert answer.json()["field"] == "quantity"
    assert _book(api) == (([], []), 0)


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({}, 400, "no_change"),
        ({"quantity": 10}, 400, "no_change"),
        ({"price": "10.00"}, 400, "no_change"),
        ({"quantity": 10, "price": "10.000"}, 400, "no_change"),
        ({"colour": "red"}, 422, "invalid_request"),
        ({"quantity": "20"}, 422, "invalid_request"),
    ],
)
async def test_an_amendment_must_change_something_and_a_refusal_uses_no_sequence(
    api, change, status, reason
):
    alice = api.as_trader("alice")
    placed = (await api.post("/v1/orders", json=order(), headers=alice)).json()
    before = _book(api)
    answer = await api.patch(f"/v1/orders/{placed['order_id']}", json=change, headers=alice)
    assert (answer.status_code, answer.json()["reason"]) == (status, reason)
    assert _book(api) == before
    assert api.exchange.orders[placed["order_id"]].status == "new"


async def _place_gtd(api, trader, seconds):
    """Place a GTD order expiring ``seconds`` from the exchange's clock; return expiry, state."""
    expiry = api.exchange.clock.now + seconds * 1_000_000_000
    at = datetime.fromtimestamp(expiry / 1e9, UTC).isoformat()
    placed = await api.post("/v1/orders", json=order(time_in_force="GTD", expire_at=at),
                            headers=trader)  # fmt: skip
    return expiry, placed.json()


async def test_amending_or_cancelling_after_expiry_but_before_the_timer_is_a_clear_refusal(api):
    alice = api.as_trader("alice")
    clock = api.exchange.clock
    expiry, placed = await _place_gtd(api, alice, seconds=5)
    assert placed["status"] == "new"
    clock.now = expiry + 1  # the expiry timer has not run yet
    amended = await api.patch(f"/v1/orders/{placed['order_id']}", json={"quantity": 20},
                              headers=alice)  # fmt: skip
    assert amended.status_code == 404 and "expired" in amended.json()["message"]
    assert amended.json()["reason"] == "not_found"
    cancelled = await api.delete(f"/v1/orders/{placed['order_id']}", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "expired"
    kinds = [type(command).__name__ for _, command in api.exchange.store.commands()]
    assert kinds == ["Submit", "Expire"]


async def test_the_expiry_timer_logs_nothing_for_orders_that_already_left(api):
    alice = api.as_trader("alice")
    clock = api.exchange.clock
    expiry, placed = await _place_gtd(api, alice, seconds=5)
    await api.delete(f"/v1/orders/{placed['order_id']}", headers=alice)
    clock.now = expiry + 1
    assert api.exchange.expire_due() == []
    kinds = [type(command).__name__ for _, command in api.exchange.store.commands()]
    assert kinds == ["Submit", "Cancel"]


async def test_every_error_has_one_shape(api):
    answers = [
        await api.post("/v1/orders", json=order()),  # 401
        await api.get("/v1/orders/99", headers=api.as_trader("alice")),  # 404
        await api.post("/v1/orders", content=b"{not json", headers=api.as_trader("alice")),
        await api.get("/v1/book/ACME?depth=0"),  # 422 from FastAPI's own validation
        await api.post("/v1/orders", json=order(symbol="NOPE"), headers=api.as_trader("alice")),
    ]
    assert [a.status_code for a in answers] == [401, 404, 422, 422, 400]
    for answer in answers:
        assert set(answer.json()) == {"reason", "message", "field"}, answer.json()
    assert answers[3].json()["field"] == "depth"
