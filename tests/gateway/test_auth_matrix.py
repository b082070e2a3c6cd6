"""Who may see what: every refusal is explicit, and nothing is sent to a refused request."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from tests.gateway.conftest import publish, receive, session

ALL_CHANNELS = ["quotes.enriched", "trades.enriched", "bars.*", "alerts", "signals"]


async def closed_with(websocket, timeout=5.0):
    """Read until the server closes; return (messages read, close code)."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(websocket.recv(), timeout)))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None


async def test_no_key_is_refused_and_nothing_is_sent(start_gateway):
    server = await start_gateway()
    publish(server.gateway, ["AMZN"])
    async with session(server) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"]}))  # fmt: skip
        messages, code = await closed_with(websocket)
    assert code == 4001
    assert messages == [{"op": "error", "code": "unauthenticated",
                         "message": "the first request must be auth"}]  # fmt: skip
    async with session(server) as silent:  # says nothing at all
        assert await closed_with(silent) == (
            [{"op": "error", "code": "unauthenticated", "message": "no auth request in time"}],
            4001,
        )


@pytest.mark.parametrize("text", ["qf_00000000_guessed", "not-a-key", ""])
async def test_a_wrong_key_is_refused(start_gateway, keys, text):
    keys.create("acme", channels=ALL_CHANNELS, instruments=["*"])
    server = await start_gateway()
    async with session(server) as websocket:
        await websocket.send(json.dumps({"op": "auth", "key": text}))
        messages, code = await closed_with(websocket)
    assert code == 4001 and [m["code"] for m in messages] == ["unauthenticated"]


async def test_a_revoked_key_is_refused_and_its_open_connections_close_within_a_second(
    start_gateway, keys
):
    _, text = keys.create("acme", channels=ALL_CHANNELS, instruments=["*"])
    server = await start_gateway()
    async with session(server, text) as websocket:
        keys.revoke("acme")
        messages, code = await closed_with(websocket, timeout=1.0)
    assert code == 4003 and messages[-1]["code"] == "revoked"
    async with session(server) as again:
        await again.send(json.dumps({"op": "auth", "key": text}))
        assert (await closed_with(again))[1] == 4001


async def test_an_unentitled_channel_is_refused_and_never_delivered(start_gateway, keys):
    _, text = keys.create("quotes-only", channels=["quotes.enriched"], instruments=["*"])
    server = await start_gateway()
    async with session(server, text) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "alerts",
                                         "instruments": ["*"]}))  # fmt: skip
        refusal = await receive(websocket)
        assert refusal == {"op": "error", "code": "forbidden", "channel": "alerts",
                           "message": "key 'quotes-only' is not entitled to alerts"}  # fmt: skip
        publish(server.gateway, ["AMZN"], channel="alerts")
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"]}))  # fmt: skip
        assert (await receive(websocket))["snapshot"] == []
        publish(server.gateway, ["AMZN"], channel="alerts")
        publish(server.gateway, ["AMZN"])
        frame = await receive(websocket)
        assert [(r["channel"], r["instrument"]) for r in frame] == [("quotes.enriched", "AMZN")]


async def test_unentitled_instruments_are_refused_by_name_and_filtered_from_patterns(
    start_gateway, keys
):
    _, text = keys.create("amzn", channels=["quotes.enriched"], instruments=["AMZN"])
    server = await start_gateway()
    publish(server.gateway, ["AMZN", "MSFT"])
    async with session(server, text) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["AMZN", "MSFT"]}))  # fmt: skip
        refusal = await receive(websocket)
        assert refusal["code"] == "forbidden" and "MSFT" in refusal["message"]
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"]}))  # fmt: skip
        subscribed = await receive(websocket)
        assert [r["instrument"] for r in subscribed["snapshot"]] == ["AMZN"]
        publish(server.gateway, ["MSFT", "AMZN", "MSFT"])
        assert [r["instrument"] for r in await receive(websocket)] == ["AMZN"]


async def test_connections_beyond_the_key_limit_are_refused(start_gateway, keys):
    _, text = keys.create("one", channels=ALL_CHANNELS, instruments=["*"], max_connections=1)
    server = await start_gateway()
    async with session(server, text):
        async with session(server) as second:
            await second.send(json.dumps({"op": "auth", "key": text}))
            messages, code = await closed_with(second)
        assert code == 4009 and messages[0]["code"] == "too_many_connections"
    await asyncio.sleep(0.2)  # the first one's close reaches the server
    async with session(server, text):
        pass


async def test_a_key_over_its_message_rate_is_closed_with_the_rate_code(start_gateway, keys):
    _, text = keys.create("slow-plan", channels=ALL_CHANNELS, instruments=["*"],
                          max_messages_per_s=10)  # fmt: skip
    server = await start_gateway(send_queue=50)
    async with session(server, text) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"]}))  # fmt: skip
        await receive(websocket)
        for start in range(0, 400, 20):
            publish(server.gateway, ["AMZN"] * 20, start=start)
            await asyncio.sleep(0.05)
        messages, code = await closed_with(websocket)
    assert code == 4029
    delivered = sum(len(m) for m in messages if isinstance(m, list))
    assert delivered < 400 and messages[-1]["code"] == "rate_limited"


async def test_requests_sent_too_fast_close_the_connection(start_gateway, keys):
    _, text = keys.create("chatty", channels=ALL_CHANNELS, instruments=["*"])
    server = await start_gateway(requests_per_s=2.0)
    async with session(server, text) as websocket:
        for _ in range(20):
            await websocket.send(json.dumps({"op": "unsubscribe", "channel": "alerts"}))
        messages, code = await closed_with(websocket)
    errors = [m["code"] for m in messages if m["op"] == "error"]
    assert code == 4029 and errors == ["rate_limited"]


async def test_malformed_requests_get_an_error_and_the_connection_stays(start_gateway, keys):
    _, text = keys.create("acme", channels=ALL_CHANNELS, instruments=["*"])
    server = await start_gateway()
    async with session(server, text) as websocket:
        for bad in ["{", '{"op": "subscribe", "channel": 5, "instruments": []}',
                    '{"op": "launch"}', '{"op": "subscribe", "channel": "nope", '
                    '"instruments": ["A"]}']:  # fmt: skip
            await websocket.send(bad)
            error = await receive(websocket)
            assert error["op"] == "error" and error["code"] in ("bad_request", "unknown_channel")
        await websocket.send(b'{"op": "auth"}')  # a binary frame
        assert (await closed_with(websocket))[1] == 4000


def get(url, key=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_rest_refuses_missing_wrong_and_unentitled_keys(start_gateway, keys):
    _, amzn = keys.create("amzn", channels=["quotes.enriched"], instruments=["AMZN"])
    _, revoked = keys.create("gone", channels=ALL_CHANNELS, instruments=["*"])
    keys.revoke("gone")
    server = await start_gateway()
    publish(server.gateway, ["AMZN", "MSFT"])
    base = server.url + "/v1/latest/quotes.enriched/"
    checks = [
        (base + "AMZN", None, 401),
        (base + "AMZN", "qf_12345678_wrong", 401),
        (base + "AMZN", revoked, 401),
        (base + "MSFT", amzn, 403),
        (server.url + "/v1/latest/alerts/AMZN", amzn, 403),
        (base + "AAPL", amzn, 403),
        (base + "AMZN", amzn, 200),
    ]
    for url, key, status in checks:
        code, body = await asyncio.to_thread(get, url, key)
        assert code == status, (url, body)
        if status != 200:
            assert "bidPrice" not in json.dumps(body)
    code, listed = await asyncio.to_thread(get, server.url + "/v1/instruments", amzn)
    assert listed == [{"instrument": "AMZN", "channels": ["quotes.enriched"]}]


async def test_the_audit_log_and_metrics_never_hold_a_key(start_gateway, keys, tmp_path):
    _, text = keys.create("acme", channels=["quotes.enriched"], instruments=["AMZN"])
    server = await start_gateway()
    async with session(server, text) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "alerts",
                                         "instruments": ["*"]}))  # fmt: skip
        await receive(websocket)
    async with session(server) as websocket:
        await websocket.send(json.dumps({"op": "auth", "key": text + "x"}))
        await closed_with(websocket)
    await asyncio.sleep(0.1)
    audit = (tmp_path / "audit.jsonl").read_text()
    events = [json.loads(line)["event"] for line in audit.splitlines()]
    assert events == ["connect", "refuse", "disconnect", "refuse"]
    _, metrics = await asyncio.to_thread(
        lambda: (None, urllib.request.urlopen(server.url + "/metrics").read().decode())
    )
    secret = text.split("_", 2)[2]
    assert secret not in audit and secret not in metrics
    assert 'quoteflow_gateway_refusals_total{reason="forbidden"} 1.0' in metrics
