"""The local Lightstreamer server speaks TLCP as Lightstreamer's official Python client expects.

The IG feed tests run against this server, so it must be right: here the official
``lightstreamer-client-lib`` connects to it, subscribes, and must decode the same
values the server encoded (snapshot, ``^n`` runs, nulls, percent-encoding), and
follows the server's ``LOOP`` by binding the same session on a new connection.
"""

import asyncio
import queue

from lightstreamer.client import LightstreamerClient, Subscription, SubscriptionListener

from quoteflow.feeds.ig.schemas import MARKET_FIELDS
from tests.conftest import load_vector
from tests.feeds.servers import serving
from tests.feeds.servers.ig import IgServer, Session

VECTOR = load_vector("ig_quote")
EPIC = VECTOR["instrument"]


class Collect(SubscriptionListener):
    def __init__(self) -> None:
        self.updates: queue.Queue[dict] = queue.Queue()

    def onItemUpdate(self, update):  # noqa: N802 - the library's callback name
        self.updates.put({field: update.getValue(field) for field in MARKET_FIELDS})


async def official_client_updates(server: IgServer, count: int) -> list[dict]:
    """Connect the official client to ``server``, subscribe the epic, return ``count`` updates."""
    listener = Collect()
    async with serving(server.app()) as base:
        server.base_url = base
        server.logins = 1
        cst, xst = server.tokens
        client = LightstreamerClient(base, "DEFAULT")
        client.connectionDetails.setUser(server.account_id)
        client.connectionDetails.setPassword(f"CST-{cst}|XST-{xst}")
        client.connectionOptions.setForcedTransport("WS-STREAMING")
        subscription = Subscription("MERGE", [f"MARKET:{EPIC}"], list(MARKET_FIELDS))
        subscription.setRequestedSnapshot("yes")
        subscription.addListener(listener)
        client.subscribe(subscription)
        client.connect()
        received = []
        try:
            for _ in range(count):
                received.append(await asyncio.to_thread(listener.updates.get, True, 10))
        finally:
            client.disconnect()
            for peer in server.peers:  # the library leaves its socket to the server to close
                await peer.ws.close()
    return received


async def test_official_lightstreamer_client_decodes_what_the_test_server_sends():
    changes = [{"BID": "1.5", "DAY_LOW": None}, {"OFR": "a|b%c", "MARKET_STATE": ""}]
    server = IgServer(sessions=[Session(updates=[(EPIC, c) for c in changes])],
                      snapshots={EPIC: dict(VECTOR["raw"])})  # fmt: skip
    received = await official_client_updates(server, 3)
    expected = {field: VECTOR["raw"].get(field) for field in MARKET_FIELDS}
    assert received[0] == expected
    expected.update(changes[0])
    assert received[1] == expected
    expected.update(changes[1])
    assert received[2] == expected


async def test_official_lightstreamer_client_rebinds_the_session_on_loop():
    changes = [{"BID": "1.5"}, {"OFR": "2.5"}]
    script = [(EPIC, changes[0]), "LOOP,0", (EPIC, changes[1])]
    server = IgServer(sessions=[Session(updates=script)], snapshots={EPIC: dict(VECTOR["raw"])})
    received = await official_client_updates(server, 3)
    binds = [params for name, params in server.requests if name == "bind_session"]
    assert [params["LS_session"] for params in binds] == ["S1"] and len(server.peers) == 2
    expected = {field: VECTOR["raw"].get(field) for field in MARKET_FIELDS}
    expected.update(changes[0])
    assert received[1] == expected
    expected.update(changes[1])
    assert received[2] == expected
