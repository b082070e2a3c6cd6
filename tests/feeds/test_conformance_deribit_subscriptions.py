"""Conformance to Deribit's JSON-RPC over WebSocket pages: subscriptions and heartbeats.

Follows https://docs.deribit.com/#subscriptions (``ticker.{instrument_name}.{interval}``,
``trades.{instrument_name}.{interval}``, notifications with ``method":
"subscription"``) and https://docs.deribit.com/#public-set_heartbeat (``heartbeat``
notifications of type ``test_request``, answered with ``public/test``). The
local server sends every message the adapter's subscriptions can deliver:
tickers of a future and an option, trades, heartbeats; and notifications the
adapter does not subscribe or know (another channel, another method), which
must come out as dead letters with their payload. Every ticker and trade sent
is recorded exactly once.
"""

import json

from quoteflow.events import Ticker, Trade
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.deribit.client import DeribitStream
from quoteflow.feeds.deribit.config import DeribitSettings
from tests.conftest import load_vector
from tests.feeds.servers import collect, serving
from tests.feeds.servers.deribit import DeribitServer, Session, notification, trade

POLICY = ConnectionPolicy(heartbeat_s=0.4, open_timeout_s=2.0, reconnect_initial_s=0.01,
                          reconnect_max_s=0.05)  # fmt: skip
FUTURE, OPTION = load_vector("deribit_future_ticker"), load_vector("deribit_option_ticker")


def settings(base: str) -> DeribitSettings:
    return DeribitSettings(stream_url=base.replace("http://", "ws://") + "/ws/api/v2",
                           rest_url=base + "/api/v2")  # fmt: skip


async def test_every_subscribed_message_is_recorded_once_and_unknown_ones_are_dead_letters():
    future, option = FUTURE["raw"]["instrument_name"], OPTION["raw"]["instrument_name"]
    frames = [
        notification(f"ticker.{future}.100ms", FUTURE["raw"]),
        notification(f"ticker.{option}.100ms", OPTION["raw"]),
        notification(f"trades.{future}.100ms", [trade(future, s) for s in (1, 2, 3)]),
        notification(f"trades.{option}.100ms", [trade(option, 1)]),
        notification("book.BTC-PERPETUAL.100ms", {"bids": [], "asks": []}),
        json.dumps({"jsonrpc": "2.0", "method": "announcements", "params": {"data": {}}}),
    ]
    server = DeribitServer(heartbeat_s=0.1, sessions=[Session(frames=frames)])
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [future, option], policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: len(e) + len(r) >= 8)
    assert sorted((type(e).__name__, e.instrument) for e in events) == sorted(
        [("Ticker", future), ("Ticker", option), *[("Trade", future)] * 3, ("Trade", option)]
    )
    assert len({(e.instrument, e.trade_id) for e in events if isinstance(e, Trade)}) == 4
    assert all(isinstance(e, (Ticker, Trade)) for e in events)
    assert len(rejects) == 2
    assert {json.loads(r.payload).get("method") for r in rejects} == {
        "subscription",
        "announcements",
    }
    subscribed = server.requests[1]["params"]["channels"]
    assert sorted(subscribed) == sorted(f"{kind}.{name}.100ms" for kind in ("ticker", "trades")
                                        for name in (future, option))  # fmt: skip
