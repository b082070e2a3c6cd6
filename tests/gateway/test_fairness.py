"""No client can starve others: a subscription storm beside a normal subscriber.

Speeds are compared within the test (the same subscriber before and during the
storm), never against fixed times.
"""

import asyncio
import json
import statistics
import time

from tests.gateway.conftest import publish, receive, session

INSTRUMENTS = [f"SYN{i:02d}" for i in range(10)]
RATE_BATCHES_PER_S = 100  # 10 instruments each: 1,000 records/s


async def _measure(server, normal, seconds: float) -> tuple[int, float]:
    """Publish for ``seconds``; return the records ``normal`` got and their median latency."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def produce():
        batch = 0
        while time.monotonic() < stop:
            publish(server.gateway, INSTRUMENTS, start=batch)
            batch += 1
            await asyncio.sleep(1 / RATE_BATCHES_PER_S)

    async def consume():
        while time.monotonic() < stop + 0.5:
            try:
                frame = await receive(normal, timeout=max(0.05, stop + 0.5 - time.monotonic()))
            except TimeoutError:
                break
            now_ms = time.time() * 1000
            for record in frame if isinstance(frame, list) else []:
                latencies.append(now_ms - record["serverTimestamp"])

    await asyncio.gather(produce(), consume())
    return len(latencies), statistics.median(latencies)


async def test_a_subscription_storm_does_not_starve_a_normal_subscriber(start_gateway, keys):
    _, text = keys.create("normal", channels=["quotes.enriched"], instruments=["*"])
    _, storm_key = keys.create("storm", channels=["quotes.enriched"], instruments=["*"])
    server = await start_gateway(window=100_000)
    async with session(server, text) as normal, session(server, storm_key) as storm:
        await normal.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                      "instruments": INSTRUMENTS}))  # fmt: skip
        assert (await receive(normal))["op"] == "subscribed"
        baseline_count, baseline_latency = await _measure(server, normal, 2.0)

        refused = []

        async def storming():
            round_ = 0
            while True:
                many = [f"X{round_}-{i}-*" for i in range(4_500)]
                allowed = [f"Y{round_}-{i}" for i in range(100)]
                for patterns in (many, allowed):
                    await storm.send(json.dumps({"op": "subscribe", "channel": "quotes.enriched",
                                                 "instruments": patterns}))  # fmt: skip
                    await asyncio.sleep(1 / 20)  # 20 changes a second, the allowed rate
                await storm.send(json.dumps({"op": "unsubscribe", "channel": "quotes.enriched"}))
                round_ += 1

        async def storm_answers():
            while True:
                answer = json.loads(await storm.recv())
                if answer.get("op") == "error":
                    refused.append(answer["code"])

        tasks = [asyncio.ensure_future(storming()), asyncio.ensure_future(storm_answers())]
        try:
            stormed_count, stormed_latency = await _measure(server, normal, 2.0)
        finally:
            for task in tasks:
                task.cancel()
        assert refused and set(refused) == {"too_many_patterns"}
        assert stormed_count >= 0.8 * baseline_count
        assert stormed_latency <= max(5 * baseline_latency, 50.0)
