"""The order entry API fuzzed: no request makes it answer 5xx, and a refusal changes nothing.

Two generators: schemathesis from the API's own OpenAPI spec, and hypothesis
with orders and amendments built to be extreme (prices no grid can hold,
quantities of every JSON type, expiries just past).
"""

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from quoteflow.access.auth import Authenticator
from quoteflow.access.keys import KeyStore
from quoteflow.exchange.app import create_exchange_app
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from tests.exchange.test_service import INSTRUMENTS, Clock

_directory = Path(tempfile.mkdtemp(prefix="quoteflow-exchange-fuzz-"))
_keys = KeyStore(_directory / "keys.db")
_, API_KEY = _keys.create("fuzz", channels=["*"], instruments=["*"])
_clock = Clock()
_exchange = Exchange(INSTRUMENTS, CommandStore(_directory / "x.db"), clock=_clock)
_app = create_exchange_app(_exchange, Authenticator(_keys))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _state():
    return _exchange.depth("ACME", 1_000), len(list(_exchange.store.commands()))


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_and_a_refusal_changes_nothing(case):
    for headers in (AUTH, {}):
        before = _state()
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert _state() == before, (case, response.status_code)


def _at(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


extreme_price = st.one_of(
    st.sampled_from(["Infinity", "-Infinity", "NaN", "sNaN", "1e100000", "-0", "0", "10.005",
                     "9" * 400, "0." + "0" * 400 + "1", "10.00", "10.01", "9.99"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**30), 10**30),
    st.none(),
)  # fmt: skip
any_quantity = st.one_of(
    st.integers(-(10**20), 10**20),
    st.sampled_from([10, 20, 100]),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN or infinity
    st.text(max_size=5),
    st.booleans(),
    st.none(),
)


@given(
    st.fixed_dictionaries({
        "price": extreme_price,
        "quantity": any_quantity,
        "new_price": extreme_price,
        "new_quantity": any_quantity,
        "tif": st.sampled_from([None, "DAY", "GTC", "IOC", "FOK", "GTD", "XYZ"]),
        "expiry_ms": st.integers(-2_000, 2_000),
        "wait_ms": st.integers(0, 3_000),
    })
)  # fmt: skip
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_extreme_orders_amends_and_expiry_races_get_answers_not_errors(drawn):
    asyncio.run(_place_amend_cancel(drawn))


async def _place_amend_cancel(drawn: dict) -> None:
    transport = httpx.ASGITransport(app=_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
        order = {"client_order_id": f"h{_clock.now}", "symbol": "ACME", "side": "buy",
                 "quantity": drawn["quantity"], "price": drawn["price"],
                 "time_in_force": drawn["tif"]}  # fmt: skip
        if drawn["tif"] == "GTD":
            order["expire_at"] = _at(_clock.now + drawn["expiry_ms"] * 1_000_000)
        before = _state()
        placed = await client.post("/v1/orders", json=order, headers=AUTH)
        assert placed.status_code in (200, 400, 422), placed.text
        if placed.status_code != 200:
            assert _state() == before
            assert set(placed.json()) == {"reason", "message", "field"}
            return
        path = f"/v1/orders/{placed.json()['order_id']}"
        _clock.now += drawn["wait_ms"] * 1_000_000  # past a GTD expiry, before the timer runs
        before = _state()
        change = {"quantity": drawn["new_quantity"], "price": drawn["new_price"]}
        amended = await client.patch(path, json=change, headers=AUTH)
        assert amended.status_code in (200, 400, 404, 422), amended.text
        if amended.status_code in (400, 422):
            assert _state() == before
        cancelled = await client.delete(path, headers=AUTH)
        assert cancelled.status_code == 200, cancelled.text
