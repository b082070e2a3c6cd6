"""The IG stream against a local IG login and Lightstreamer (TLCP) server."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quoteflow.errors import AuthenticationError
from quoteflow.events import Quote
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.ig.client import IgStream
from quoteflow.feeds.ig.config import IgSettings
from quoteflow.feeds.ig.parsing import parse_message
from quoteflow.feeds.ig.tlcp import CLIENT_ID, ItemState
from tests.conftest import load_vector
from tests.feeds.servers import collect, serving
from tests.feeds.servers.ig import IgServer, Session, encode_update

FAST = ConnectionPolicy(heartbeat_s=0.4, idle_timeout_s=0.6, open_timeout_s=1.0,
                        reconnect_initial_s=0.01, reconnect_max_s=0.05)  # fmt: skip
VECTOR = load_vector("ig_quote")
EPIC = VECTOR["instrument"]


def settings(base: str, password: str = "password") -> IgSettings:
    return IgSettings(api_key="api-key", username="trader", password=password,
                      rest_url=base + "/gateway/deal")  # fmt: skip


def server_with(*sessions: Session) -> IgServer:
    return IgServer(sessions=list(sessions), snapshots={EPIC: dict(VECTOR["raw"])})


async def test_stream_starts_with_the_snapshot_and_merges_updates():
    server = server_with(
        Session(
            updates=[
                (EPIC, {"BID": "35330.1", "UTM": "1698930199000"}),
                (EPIC, {"OFR": "35420.5", "UTM": "1698930199500"}),
            ]
        )
    )
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, rejects = await collect(feed, lambda e, r: len(e) == 3)
    expected = parse_message(VECTOR["raw"], 0, instrument=EPIC)[0]
    snapshot, first, second = events
    assert isinstance(snapshot, Quote) and snapshot.instrument == EPIC
    assert (snapshot.bid_price, snapshot.ask_price, snapshot.day_low, snapshot.ts_event) == (
        expected.bid_price,
        expected.ask_price,
        expected.day_low,
        expected.ts_event,
    )
    assert (first.bid_price, first.ask_price) == (35330.1, expected.ask_price)
    assert (second.bid_price, second.ask_price) == (35330.1, 35420.5)
    assert rejects == []
    (_, create), (_, add) = server.requests[:2]
    assert create["LS_cid"] == CLIENT_ID and create["LS_user"] == "ABC123"
    assert create["LS_password"] == "CST-cst-1|XST-xst-1" and create["LS_adapter_set"] == "DEFAULT"
    assert (add["LS_group"], add["LS_mode"], add["LS_snapshot"]) == (f"MARKET:{EPIC}", "MERGE",
                                                                     "true")  # fmt: skip


async def test_stream_when_server_disconnects_opens_a_new_session_and_resubscribes():
    server = server_with(Session(end="close"), Session())
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        await collect(feed, lambda e, r: len(e) == 2)
    assert len(server.peers) == 2 and server.logins == 1
    assert [name for name, _ in server.requests] == ["create_session", "control"] * 2
    assert feed.metrics.reconnects == 1 and feed.metrics.gaps == 1


async def test_stream_when_tokens_expired_logs_in_again_once():
    server = server_with(Session(end="close"), Session())
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events = []

        async def run():
            async for normalized in feed.stream():
                events.extend(normalized.events)
                if len(events) == 1:
                    server.expire_tokens()
                if len(events) == 2:
                    return

        await asyncio.wait_for(run(), 10)
    assert server.logins == 3  # first login, expiry, second login
    assert len(server.peers) == 3  # refused with CONERR,1, then accepted


async def test_stream_when_password_is_wrong_raises_without_retrying():
    server = server_with()
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base, password="wrong"), [EPIC], policy=FAST)
        with pytest.raises(AuthenticationError, match=r"login refused.*401"):
            await collect(feed, lambda e, r: False)
    assert server.peers == []


async def test_stream_when_an_update_is_malformed_sends_a_dead_letter_and_continues():
    server = server_with(Session(updates=["U,1,1,abc|||", "U,9,1,1", (EPIC, {"BID": "1.5"})]))
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, rejects = await collect(feed, lambda e, r: len(e) == 2)
    assert len(rejects) == 2 and events[-1].bid_price == 1.5
    assert feed.metrics.reconnects == 0


async def test_stream_when_server_goes_silent_reconnects_on_missing_probes():
    server = server_with(Session(end="silent"), Session())
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        await collect(feed, lambda e, r: len(e) == 2)
    assert len(server.peers) == 2 and feed.metrics.reconnects == 1


async def test_stream_counts_overflow_as_a_gap():
    server = server_with(Session(updates=["OV,1,1,12", (EPIC, {"BID": "2.5"})]))
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        await collect(feed, lambda e, r: len(e) == 2)
    assert feed.metrics.gaps == 1


async def test_stream_when_server_is_slow_keeps_slow_streams_and_retries_slow_handshakes():
    updates = [(EPIC, {"BID": str(100 + i)}) for i in range(3)]
    server = server_with(
        Session(conok_delay_s=1.5),  # longer than open_timeout_s: given up, retried
        Session(updates=updates, delay_s=0.5),  # slower than the ping interval: kept
    )
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, _ = await collect(feed, lambda e, r: len(e) == 4)  # the snapshot, 3 updates
    assert [e.bid_price for e in events[1:]] == [100.0, 101.0, 102.0]
    assert len(server.peers) == 2 and feed.metrics.connections == 1


async def test_stream_when_server_sends_loop_rebinds_the_session_and_loses_nothing():
    server = server_with(Session(updates=[
        (EPIC, {"BID": "101", "UTM": "1698930199001"}),
        "LOOP,0",
        (EPIC, {"OFR": "35420.5", "UTM": "1698930199002"}),  # a diff against the state before
        (EPIC, {"BID": "102", "UTM": "1698930199003"}),
    ]))  # fmt: skip
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, rejects = await collect(feed, lambda e, r: len(e) == 4)
    first, second, third = events[1:]
    assert (first.bid_price, second.bid_price, second.ask_price) == (101.0, 101.0, 35420.5)
    assert (third.bid_price, third.ask_price) == (102.0, 35420.5)
    assert [e.ts_event for e in events[1:]] == [1698930199001000000 + i * 1000000 for i in range(3)]
    assert [name for name, _ in server.requests] == ["create_session", "control", "bind_session"]
    assert server.requests[-1][1]["LS_session"] == "S1" and rejects == []
    assert server.logins == 1 and len(server.peers) == 2
    metrics = feed.metrics
    assert (metrics.rebinds, metrics.reconnects, metrics.gaps) == (1, 0, 0)


async def test_stream_across_many_loops_records_each_update_sent_exactly_once():
    updates: list = []
    for i in range(200):
        updates.append((EPIC, {"BID": str(1000 + i), "UTM": str(1698930200000 + i)}))
        if i % 40 == 39 and i < 199:
            updates.append("LOOP,0")
    server = server_with(Session(updates=updates))
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, _ = await collect(feed, lambda e, r: e[-1].bid_price == 1199.0)  # the last one
    assert server.sent == len(events) == 201
    assert [e.bid_price for e in events[1:]] == [1000.0 + i for i in range(200)]
    assert feed.metrics.rebinds == 4 and feed.metrics.gaps == 0


async def test_stream_when_rebind_is_refused_opens_a_new_session_from_its_snapshot():
    server = server_with(
        Session(updates=[(EPIC, {"BID": "101"}), "LOOP,0"], forget_on_loop=True),
        Session(updates=[(EPIC, {"BID": "102"})]),
    )
    async with serving(server.app()) as base:
        server.base_url = base
        feed = IgStream(settings(base), [EPIC], policy=FAST)
        events, _ = await collect(feed, lambda e, r: len(e) == 4)
    assert [e.bid_price for e in events[1:]] == [101.0, 101.0, 102.0]  # update, snapshot, update
    names = [name for name, _ in server.requests]
    assert names == ["create_session", "control", "bind_session", "create_session", "control"]
    metrics = feed.metrics
    assert (metrics.rebinds, metrics.reconnects, metrics.gaps) == (0, 1, 1)


values = st.lists(st.one_of(st.none(), st.text(alphabet="0123456789.#$^|%-AZ", max_size=6)),
                  min_size=4, max_size=4)  # fmt: skip


@given(st.lists(values, min_size=1, max_size=6))
def test_item_state_decodes_what_a_lightstreamer_server_encodes(updates):
    item = ItemState(["A", "B", "C", "D"])
    previous = None
    for current in updates:
        assert list(item.apply(encode_update(previous, current)).values()) == current
        previous = current
