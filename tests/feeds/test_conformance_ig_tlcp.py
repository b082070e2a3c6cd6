"""Conformance to IG's streaming guide and the Lightstreamer TLCP 2.5.0 specification.

Follows https://labs.ig.com/streaming-api-guide (login with ``CST-…|XST-…``,
``MARKET:{epic}`` items in MERGE mode, the MARKET fields) and
https://lightstreamer.com/docs/client_TLCP_base/TLCP%20Specifications.pdf
(``create_session``, ``control`` with ``LS_op=add``, ``bind_session``;
notifications ``CONOK``, ``SUBOK``, ``CONF``, ``U`` with unchanged-field
markers, ``OV``, ``PROBE``, ``NOOP``, ``SYNC``, ``LOOP``, ``REQERR``). The local
server sends every notification a MERGE subscription can deliver and one tag
TLCP does not define, which must come out as a dead letter with its line. Every
update sent is recorded exactly once, across a ``LOOP`` and the rebind it asks for.
"""

from quoteflow.events import Quote
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.ig.client import IgStream
from quoteflow.feeds.ig.config import IgSettings
from tests.conftest import load_vector
from tests.feeds.servers import collect, serving
from tests.feeds.servers.ig import IgServer, Session

POLICY = ConnectionPolicy(heartbeat_s=0.4, idle_timeout_s=0.6, open_timeout_s=2.0,
                          reconnect_initial_s=0.01, reconnect_max_s=0.05)  # fmt: skip
VECTOR = load_vector("ig_quote")
EPIC = VECTOR["instrument"]


async def test_every_notification_of_a_merge_subscription_and_unknown_tags_as_dead_letters():
    script = [
        (EPIC, {"BID": "35330.1", "UTM": "1698930199000"}),
        "PROBE",
        "NOOP,keep this connection",
        "SYNC,12",
        "CONF,1,unlimited,filtered",
        "OV,1,1,3",
        (EPIC, {"DAY_LOW": None, "MARKET_STATE": "", "UTM": "1698930199500"}),
        "LOOP,0",
        (EPIC, {"OFR": "35420.5", "UTM": "1698930200000"}),
        "MAGIC,1,2",
        (EPIC, {"BID": "35331.1", "UTM": "1698930200500"}),
    ]
    server = IgServer(sessions=[Session(updates=script)], snapshots={EPIC: dict(VECTOR["raw"])})
    async with serving(server.app()) as base:
        server.base_url = base
        settings = IgSettings(api_key="api-key", username="trader", password="password",
                              rest_url=base + "/gateway/deal")  # fmt: skip
        feed = IgStream(settings, [EPIC], policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: e[-1].bid_price == 35331.1)
    assert server.sent == len(events) == 5 and all(isinstance(e, Quote) for e in events)
    assert [e.ts_event // 1_000_000 for e in events[1:]] == [
        1698930199000, 1698930199500, 1698930200000, 1698930200500,
    ]  # fmt: skip
    assert (events[2].day_low, events[3].ask_price, events[3].bid_price) == (
        None, 35420.5, 35330.1,
    )  # fmt: skip
    assert [(r.reason, r.payload) for r in rejects] == [
        ("unknown TLCP notification 'MAGIC'", "MAGIC,1,2")
    ]
    assert [name for name, _ in server.requests] == ["create_session", "control", "bind_session"]
    metrics = feed.metrics
    assert (metrics.gaps, metrics.rebinds, metrics.reconnects) == (1, 1, 0)  # OV is a gap
