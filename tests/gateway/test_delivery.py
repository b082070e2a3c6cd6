"""Delivery: resume across forced disconnects, slow consumers, bars from the lake."""

import asyncio
import json
import socket
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from quoteflow.errors import AuthenticationError, SubscriptionError
from quoteflow.events import Bar
from quoteflow.gateway.client import GatewayClient
from quoteflow.gateway.errors import ResumeGapError
from quoteflow.gateway.stream import FRAME_RECORDS
from quoteflow.lake import LakeRoot, LakeWriter
from tests.gateway.conftest import CuttingProxy, publish, receive, session

INSTRUMENTS = ["AMZN", "MSFT", "AAPL", "BTC-PERPETUAL"]


async def test_resume_across_forced_disconnects_yields_exactly_the_published_sequence(
    start_gateway, keys
):
    _, text = keys.create("acme", channels=["quotes.enriched", "alerts"], instruments=["*"])
    server = await start_gateway(window=100, file_records=40)
    proxy = await CuttingProxy(server.port).start()
    gateway = server.gateway
    published = publish(gateway, INSTRUMENTS)  # before: the snapshot holds these
    client = GatewayClient(f"ws://127.0.0.1:{proxy.listen_port}/v1/stream", text,
                           {"quotes.enriched": ["AMZN", "BTC-*"], "alerts": ["*"]},
                           reconnect_initial_s=0.05, reconnect_max_s=0.3)  # fmt: skip
    received = []

    async def consume():
        async for record in client:
            received.append((record["channel"], record["seq"], record))

    consumer = asyncio.create_task(consume())
    while not received:
        await asyncio.sleep(0.01)
    for round_number in range(12):
        async with asyncio.timeout(10):
            while client.connections <= round_number:  # cut only a live connection
                await asyncio.sleep(0.005)
        for step in range(30):
            published += publish(gateway, INSTRUMENTS, start=step)
            if step % 10 == 0:
                published += publish(gateway, ["AMZN"], channel="alerts")
            await asyncio.sleep(0.002)
        proxy.cut()
        if round_number % 3 == 0:  # away long enough for the window to move on: the lake
            proxy.refusing = True
            for step in range(60):
                published += publish(gateway, INSTRUMENTS, start=step)
                await asyncio.sleep(0.002)
            proxy.refusing = False
    wanted = [d for d in published
              if d.channel == "alerts" or d.instrument in ("AMZN", "BTC-PERPETUAL")]  # fmt: skip
    latest = {d.channel: d.sequence for d in wanted}
    async with asyncio.timeout(30):
        while {c: s for c, s, _ in received} != latest:
            await asyncio.sleep(0.05)
    consumer.cancel()
    await proxy.stop()
    snapshot = [("quotes.enriched", 1), ("quotes.enriched", 4)]  # AMZN and BTC at subscribe
    expected = snapshot + [(d.channel, d.sequence) for d in wanted if d.sequence > 4
                           or d.channel == "alerts"]  # fmt: skip
    assert sorted((c, s) for c, s, _ in received) == sorted(expected)
    for channel in ("quotes.enriched", "alerts"):
        sequences = [s for c, s, _ in received if c == channel]
        assert sequences == sorted(set(sequences))
    by_key = {(d.channel, d.sequence): json.loads(d.payload) for d in published}
    assert all(record == by_key[(c, s)] for c, s, record in received)
    assert client.connections >= 12 and client.gaps == []
    resumes = gateway.metrics.total
    assert resumes("resumes", source="lake") >= 1 and resumes("resumes", source="memory") >= 1


async def test_a_client_is_told_when_it_cannot_be_resumed(start_gateway, keys):
    _, text = keys.create("acme", channels=["quotes.enriched"], instruments=["*"])
    server = await start_gateway(window=10)
    publish(server.gateway, ["AMZN"] * 30)
    async with session(server, text) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"],
                                         "resume": {"epoch": "old-run", "after": 3}}))  # fmt: skip
        error = await receive(websocket)
        assert error["code"] == "resume_gap" and "the gateway restarted" in error["message"]
    client = GatewayClient(server.stream_url, text, {"quotes.enriched": ["*"]}, on_gap="raise")
    client.epoch, client.last = "old-run", {"quotes.enriched": 3}
    with pytest.raises(ResumeGapError, match="gateway restarted"):
        async for _ in client:
            pass


async def test_the_client_raises_refusals_instead_of_retrying(start_gateway, keys):
    _, text = keys.create("amzn", channels=["quotes.enriched"], instruments=["AMZN"])
    server = await start_gateway()
    with pytest.raises(AuthenticationError, match="unknown or revoked API key"):
        async for _ in GatewayClient(server.stream_url, "qf_1_2", {"quotes.enriched": ["*"]}):
            pass
    with pytest.raises(SubscriptionError, match="not entitled to MSFT"):
        async for _ in GatewayClient(server.stream_url, text, {"quotes.enriched": ["MSFT"]}):
            pass


async def test_a_stalled_client_is_disconnected_and_never_delays_a_fast_one(start_gateway, keys):
    _, text = keys.create("acme", channels=["quotes.enriched"], instruments=["*"])
    server = await start_gateway(send_queue=5_000, window=100_000, send_buffer_bytes=65536)
    subscribe = json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                            "instruments": ["*"]})  # fmt: skip
    small_buffer = socket.socket()  # so that the kernel does not absorb megabytes for it
    small_buffer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    small_buffer.connect(("127.0.0.1", server.port))
    async with (
        session(server, text, max_queue=1, sock=small_buffer) as stalled,
        session(server, text) as fast,
    ):
        await stalled.send(subscribe)
        await fast.send(subscribe)
        await receive(fast)
        count = 0
        for batch in range(400):
            count += len(publish(server.gateway, INSTRUMENTS * 25, start=batch))
            await asyncio.sleep(0.003)  # 30,000 records/s: the fast client keeps up
        sequences = []
        while len(sequences) < count:
            frame = await receive(fast)
            assert isinstance(frame, list), frame
            assert len(frame) <= FRAME_RECORDS
            sequences += [record["seq"] for record in frame]
        assert sequences == list(range(1, count + 1))
        async with asyncio.timeout(10):
            while server.gateway.metrics.total("closes", code="slow_consumer") < 1:
                await asyncio.sleep(0.05)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4008


async def test_a_conflating_client_gets_the_latest_values_instead_of_being_closed(
    start_gateway, keys
):
    _, text = keys.create("acme", channels=["quotes.enriched"], instruments=["*"])
    server = await start_gateway(send_queue=20)
    async with session(server) as websocket:
        await websocket.send(json.dumps({"op": "auth", "key": text, "conflate": True}))
        await receive(websocket)
        await websocket.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                         "instruments": ["*"]}))  # fmt: skip
        await receive(websocket)
        for start in range(0, 1000, 4):  # all at once: the queue conflates
            publish(server.gateway, INSTRUMENTS, start=start)
        latest = {}
        async with asyncio.timeout(5):
            while latest.get("BTC-PERPETUAL", 0) < 999:
                for record in await receive(websocket):
                    latest[record["instrument"]] = record["bidPrice"]
        assert latest == {"AMZN": 996.0, "MSFT": 997.0, "AAPL": 998.0, "BTC-PERPETUAL": 999.0}


async def test_bars_are_served_from_the_lake(start_gateway, keys, tmp_path):
    _, text = keys.create("bars", channels=["bars.*"], instruments=["AMZN"])
    minute = 60_000_000_000
    day = 1_700_000_000_000_000_000 // minute * minute
    bars = [Bar("alpaca", "AMZN", day + i * minute, day + i * minute, period="1m", open=1.0,
                high=2.0, low=0.5, close=1.5, volume=10.0 + i) for i in range(5)]  # fmt: skip
    writer = LakeWriter(LakeRoot.open(tmp_path / "lake"), "primary")
    writer.add(bars, topic="bars.1m")
    writer.flush()
    server = await start_gateway()

    def get(path):
        request = urllib.request.Request(server.url + path,
                                         headers={"Authorization": f"Bearer {text}"})  # fmt: skip
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    start = (day + minute) // 1_000_000_000
    found = await asyncio.to_thread(get, f"/v1/bars/AMZN?period=1m&start={start}&limit=3")
    assert [b["volume"] for b in found] == [11, 12, 13]
    assert found[0]["instrument"] == "AMZN" and found[0]["serverTimestamp"] == start * 1000
