"""The Deribit stream and public API against a local server speaking Deribit's JSON-RPC."""

import asyncio
import json

import aiohttp
import pytest

from quoteflow.errors import AuthenticationError, SubscriptionError
from quoteflow.events import Ticker, Trade
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.deribit.client import DeribitStream
from quoteflow.feeds.deribit.config import DeribitSettings
from quoteflow.feeds.deribit.parsing import parse_message
from quoteflow.feeds.deribit.public_api import DeribitPublicApi
from tests.conftest import load_vector
from tests.feeds.servers import collect, serving
from tests.feeds.servers.deribit import DeribitServer, Session, notification, trade

FAST = ConnectionPolicy(heartbeat_s=0.4, idle_timeout_s=1.0, open_timeout_s=1.0,
                        reconnect_initial_s=0.01, reconnect_max_s=0.05)  # fmt: skip
PERP = "BTC-PERPETUAL"


def settings(base: str, **extra) -> DeribitSettings:
    return DeribitSettings(stream_url=base.replace("http://", "ws://") + "/ws/api/v2",
                           rest_url=base + "/api/v2", **extra)  # fmt: skip


def trades_frame(instrument: str, seqs) -> str:
    return notification(f"trades.{instrument}.100ms", [trade(instrument, s) for s in seqs])


async def test_stream_when_server_sends_the_vectors_gives_the_normalizer_records():
    vectors = [load_vector("deribit_future_ticker"), load_vector("deribit_option_ticker")]
    names = [v["raw"]["instrument_name"] for v in vectors]
    frames = [notification(f"ticker.{v['raw']['instrument_name']}.100ms", v["raw"])
              for v in vectors]  # fmt: skip
    server = DeribitServer(sessions=[Session(frames=frames)])
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), names, trades=False, policy=FAST)
        events, rejects = await collect(feed, lambda e, r: len(e) == 2)
    expected = [parse_message(v["raw"], 0)[0] for v in vectors]
    assert [(e.instrument, e.ts_event, e.mark_price, e.delta) for e in events] == [
        (e.instrument, e.ts_event, e.mark_price, e.delta) for e in expected
    ]
    assert all(isinstance(e, Ticker) for e in events) and rejects == []
    methods = [r["method"] for r in server.requests]
    assert methods[:2] == ["public/set_heartbeat", "public/subscribe"]
    assert server.requests[0]["params"] == {"interval": 10}
    assert server.requests[1]["params"]["channels"] == [f"ticker.{n}.100ms" for n in names]


async def test_stream_answers_test_requests_and_stays_connected():
    server = DeribitServer(heartbeat_s=0.1, sessions=[Session(frames=[])])
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP], policy=FAST)
        task = asyncio.create_task(collect(feed, lambda e, r: False))
        await asyncio.sleep(0.8)
        task.cancel()
    assert server.tests_answered >= 3
    assert feed.metrics.reconnects == 0


async def test_stream_when_trades_were_missed_fills_them_by_sequence_without_duplicates():
    server = DeribitServer(
        sessions=[
            Session(frames=[trades_frame(PERP, [1, 2]), trades_frame(PERP, [3])], end="close"),
            # 4-6 happen while disconnected; 6 is sent again after the reconnect
            Session(frames=[trades_frame(PERP, [7, 8]), trades_frame(PERP, [8, 9])]),
        ],
        trades={PERP: [trade(PERP, s) for s in range(1, 10)]},
    )
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP], policy=FAST)
        events, _ = await collect(feed, lambda e, r: feed.metrics.frames == 4)
    trades = [e for e in events if isinstance(e, Trade)]
    assert [t.trade_id for t in trades] == [f"T-{s}" for s in range(1, 10)]
    assert trades[0].aggressor_side == "buy" and trades[0].size == 10.0
    assert feed.metrics.backfilled == 3 and feed.metrics.duplicates == 1
    assert feed.metrics.reconnects == 1
    fills = [q for m, q in server.rest_requests if m == "get_last_trades_by_instrument"]
    assert fills == [{"instrument_name": PERP, "start_seq": "4", "end_seq": "6", "count": "1000",
                      "sorting": "asc"}]  # fmt: skip
    subscribes = [r for r in server.requests if r["method"] == "public/subscribe"]
    assert len(subscribes) == 2 and subscribes[0]["params"] == subscribes[1]["params"]


async def test_stream_when_credentials_are_wrong_raises_once_without_retrying():
    server = DeribitServer(credentials=("id", "secret"))
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base, client_id="id", client_secret="wrong"), [PERP],
                             policy=FAST)  # fmt: skip
        with pytest.raises(AuthenticationError, match="invalid_credentials"):
            await collect(feed, lambda e, r: False)
    assert len(server.peers) == 1


async def test_stream_when_a_frame_is_malformed_sends_dead_letters_and_continues():
    ticker = load_vector("deribit_future_ticker")["raw"]
    good = notification(f"ticker.{PERP}.100ms", {**ticker, "instrument_name": PERP})
    bad = notification(f"ticker.{PERP}.100ms", {**ticker, "timestamp": "yesterday"})
    server = DeribitServer(sessions=[Session(frames=[good, "{oops", bad, good])])
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP], trades=False, policy=FAST)
        _events, rejects = await collect(feed, lambda e, r: len(e) == 2)
    assert [r.field for r in rejects] == ["$", "params.data.timestamp"]
    assert feed.metrics.reconnects == 0


async def test_stream_when_server_goes_silent_reconnects():
    ticker = load_vector("deribit_future_ticker")["raw"]
    frame = notification(f"ticker.{PERP}.100ms", {**ticker, "instrument_name": PERP})
    server = DeribitServer(sessions=[Session(frames=[frame], end="silent"),
                                     Session(frames=[frame])])  # fmt: skip
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP], trades=False, policy=FAST)
        await collect(feed, lambda e, r: len(e) == 2)
    assert len(server.peers) == 2 and feed.metrics.reconnects == 1


async def test_stream_when_a_channel_is_not_confirmed_raises_subscription_error():
    server = DeribitServer(unknown=("ticker.BTC-NOPE.100ms",))
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP, "BTC-NOPE"], trades=False, policy=FAST)
        with pytest.raises(SubscriptionError, match="BTC-NOPE"):
            await collect(feed, lambda e, r: False)


async def test_public_api_lists_options_of_an_expiry_and_snapshots_book_summaries():
    options = [
        {"instrument_name": name, "kind": "option", "base_currency": "BTC",
         "expiration_timestamp": 1_699_603_200_000, "strike": 35_500.0, "option_type": "call"}
        for name in ("BTC-10NOV23-35500-C", "BTC-17NOV23-35500-C")
    ]  # fmt: skip
    summary = {"instrument_name": "BTC-10NOV23-35500-C", "creation_timestamp": 1_699_000_000_000,
               "bid_price": 0.0325, "ask_price": 0.033, "mark_price": 0.0326, "mark_iv": 54.66,
               "underlying_price": 35542.24, "open_interest": 148.5, "volume": 65.9}  # fmt: skip
    server = DeribitServer(instruments=options, summaries=[summary])
    async with serving(server.app()) as base, aiohttp.ClientSession() as http:
        api = DeribitPublicApi(settings(base), http)
        found = await api.instruments("BTC", expiry="10NOV23")
        tickers = await api.book_summaries("BTC")
    assert [i.instrument_name for i in found] == ["BTC-10NOV23-35500-C"]
    assert tickers[0].bid_price == 0.0325 and tickers[0].mark_iv == 54.66
    assert tickers[0].ts_event == 1_699_000_000_000 * 10**6


async def test_stream_with_snapshot_currencies_starts_with_book_summary_tickers():
    name = "BTC-10NOV23-35500-C"
    summary = {"instrument_name": name, "creation_timestamp": 1_699_000_000_000,
               "mark_price": 0.0326}  # fmt: skip
    server = DeribitServer(summaries=[summary, {**summary, "instrument_name": "BTC-X"}])
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [name], snapshot_currencies=["BTC"], policy=FAST)
        events, _ = await collect(feed, lambda e, r: len(e) >= 1)
    assert [(e.instrument, e.mark_price) for e in events] == [(name, 0.0326)]


def test_stream_requests_are_json_rpc():
    feed = DeribitStream(DeribitSettings(), [PERP])
    request_id, text = feed._request("public/test", {})
    assert json.loads(text) == {"jsonrpc": "2.0", "id": request_id, "method": "public/test",
                                "params": {}}  # fmt: skip


async def test_ingest_finds_every_option_of_a_currency_and_expiry():
    from quoteflow.feeds.deribit.factories import deribit_instruments

    options = [
        {"instrument_name": name, "kind": "option", "base_currency": "BTC",
         "expiration_timestamp": 1_699_603_200_000}
        for name in ("BTC-10NOV23-35500-C", "BTC-10NOV23-35500-P", "BTC-17NOV23-35500-C")
    ]  # fmt: skip
    server = DeribitServer(instruments=options)
    async with serving(server.app()) as base:
        names = await deribit_instruments(settings(base), [PERP], ["BTC"], expiry="10NOV23")
    assert names == [PERP, "BTC-10NOV23-35500-C", "BTC-10NOV23-35500-P"]


async def test_stream_when_server_is_slow_keeps_slow_streams_and_retries_slow_handshakes():
    ticker = load_vector("deribit_future_ticker")["raw"]
    frames = [notification(f"ticker.{PERP}.100ms", {**ticker, "instrument_name": PERP,
                                                    "timestamp": 1_700_000_000_000 + i})
              for i in range(3)]  # fmt: skip
    server = DeribitServer(heartbeat_s=0.2, sessions=[
        Session(subscribe_delay_s=1.5),  # longer than open_timeout_s: given up, retried
        Session(frames=frames, delay_s=0.5),  # slower than the ping interval: kept
    ])  # fmt: skip
    async with serving(server.app()) as base:
        feed = DeribitStream(settings(base), [PERP], trades=False, policy=FAST)
        events, _ = await collect(feed, lambda e, r: len(e) == 3)
    assert [e.ts_event // 10**6 for e in events] == [1_700_000_000_000 + i for i in range(3)]
    assert len(server.peers) == 2 and feed.metrics.connections == 1
