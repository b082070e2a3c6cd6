"""The gateway on Kafka: serving the enriched topics that enrich processes write."""

import asyncio

from quoteflow.access.keys import KeyStore
from quoteflow.app.serve import serve
from quoteflow.app.settings import Settings
from quoteflow.bus import open as open_bus
from quoteflow.bus.kafka import KafkaBus
from quoteflow.gateway.client import GatewayClient
from tests.gateway.conftest import quote


async def test_the_gateway_serves_what_is_on_the_kafka_topics(own_kafka_broker, tmp_path):
    settings = Settings(
        gateway={"port": 0, "keys_db": str(tmp_path / "keys.db"),
                 "audit_log": str(tmp_path / "audit.jsonl")},
        lake={"root": str(tmp_path / "lake")},
        bus={"session_timeout_ms": 6_000, "fetch_wait_ms": 50},
    )  # fmt: skip
    _, key = KeyStore(tmp_path / "keys.db").create("acme", channels=["*"], instruments=["*"])
    writer = KafkaBus(own_kafka_broker, fetch_wait_ms=50)
    await writer.send_many("quotes.enriched", [("AMZN", quote("AMZN", 1)),
                                               ("MSFT", quote("MSFT", 2))])  # fmt: skip
    started = asyncio.Event()
    servers = []

    def on_start(server):
        servers.append(server)
        started.set()

    stop = asyncio.Event()
    bus = open_bus(f"kafka://{own_kafka_broker}", settings.bus)
    serving = asyncio.create_task(serve(settings, bus=bus, on_start=on_start, stop=stop))
    try:
        await asyncio.wait_for(started.wait(), 30)
        client = GatewayClient(servers[0].stream_url, key, {"quotes.enriched": ["AMZN"]})
        records = aiter(client)
        async with asyncio.timeout(60):
            first = await anext(records)
            while first["bidPrice"] != 1.0:  # subscribed before the topic was read: live
                first = await anext(records)
            await writer.send_many("quotes.enriched", [("AMZN", quote("AMZN", 3))])
            second = await anext(records)
        assert (first["instrument"], second["bidPrice"]) == ("AMZN", 3.0)
        assert second["seq"] > first["seq"]
    finally:
        stop.set()
        await serving
        await writer.close()
