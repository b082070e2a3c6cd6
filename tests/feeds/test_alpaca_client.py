"""The Alpaca stream and REST client against a local server speaking Alpaca's wire format."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from quoteflow.errors import AuthenticationError, SubscriptionError
from quoteflow.events import Bar, Quote
from quoteflow.feeds.alpaca.client import AlpacaStream
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.alpaca.history import AlpacaHistory
from quoteflow.feeds.alpaca.parsing import parse_frame
from quoteflow.feeds.config import ConnectionPolicy
from tests.conftest import FIXTURES
from tests.feeds.servers import collect, serving, wait_for
from tests.feeds.servers.alpaca import AlpacaServer, Session

FAST = ConnectionPolicy(heartbeat_s=0.4, open_timeout_s=1.0, reconnect_initial_s=0.01,
                        reconnect_max_s=0.05)  # fmt: skip
RECORDED = (FIXTURES / "alpaca" / "stream.jsonl").read_text().splitlines()
T0 = datetime(2021, 2, 22, 15, 0, tzinfo=UTC)


def settings(base: str, key: str = "key-id") -> AlpacaSettings:
    ws = base.replace("http://", "ws://")
    return AlpacaSettings(key_id=key, secret_key="secret-key", stream_url=ws, rest_url=base)


def minute_bar(symbol: str, minute: int) -> dict:
    t = (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
    price = 100.0 + minute
    return {"t": t, "o": price, "h": price + 1, "l": price - 1, "c": price + 0.5, "v": 100 + minute,
            "n": 10, "vw": price + 0.25}  # fmt: skip


def bar_frame(minutes, symbols=("AAPL", "MSFT")) -> str:
    return json.dumps([{"T": "b", "S": s, **minute_bar(s, m)} for m in minutes for s in symbols])


async def test_stream_when_server_replays_recorded_frames_gives_the_normalizer_records():
    server = AlpacaServer(sessions=[Session(frames=RECORDED)])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AMD"], "trades": ["AAPL"],
                                             "bars": ["SPY"]}, policy=FAST)  # fmt: skip
        expected = [e for frame in RECORDED for e in parse_frame(frame.encode(), 0).events]
        events, rejects = await collect(feed, lambda e, r: len(e) >= len(expected))
    peer = server.peers[0]
    assert peer.compress == 15  # permessage-deflate asked for and agreed
    assert json.loads(peer.received[0]) == {"action": "auth", "key": "key-id",
                                            "secret": "secret-key"}  # fmt: skip
    assert json.loads(peer.received[1]) == {"action": "subscribe", "quotes": ["AMD"],
                                            "trades": ["AAPL"], "bars": ["SPY"]}  # fmt: skip
    assert [e.__class__ for e in events] == [e.__class__ for e in expected]
    assert [(e.instrument, e.ts_event) for e in events] == [
        (e.instrument, e.ts_event) for e in expected
    ]
    assert rejects == []
    assert feed.confirmed["quotes"] == ["AMD"]
    summary = feed.metrics.summary()
    assert summary["records"] == len(expected) and summary["reconnects"] == 0


async def test_stream_when_server_disconnects_reconnects_and_resubscribes():
    quote = '[{"T":"q","S":"AAPL","bp":1.0,"bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:45Z"}]'
    server = AlpacaServer(sessions=[Session(frames=[quote], end="close"), Session(frames=[quote])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL"]}, policy=FAST)
        _events, _ = await collect(feed, lambda e, r: len(e) == 2)
    assert len(server.peers) == 2
    assert server.peers[0].received[1] == server.peers[1].received[1]
    assert feed.metrics.reconnects == 1 and feed.metrics.gaps == 1
    assert [peer.binary_frames for peer in server.peers] == [0, 0]  # auth, subscribe as text


async def test_a_reconnect_in_the_first_minute_asks_for_no_bars_and_warns_of_nothing(caplog):
    quote = '[{"T":"q","S":"AAPL","bp":1.0,"bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:45Z"}]'
    server = AlpacaServer(sessions=[Session(frames=[], end="close"), Session(frames=[quote])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"bars": ["AAPL"], "quotes": ["AAPL"]}, policy=FAST)
        events, _ = await collect(feed, lambda e, r: len(e) == 1)
    assert feed.metrics.reconnects == 1 and len(events) == 1
    assert server.rest_requests == []  # before: start after end, then a misleading warning
    assert "not filled" not in caplog.text


async def test_stream_when_credentials_are_wrong_raises_once_without_retrying():
    server = AlpacaServer()
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base, key="wrong"), {"quotes": ["AAPL"]}, policy=FAST)
        with pytest.raises(AuthenticationError, match=r"402 auth failed.*KEY_ID"):
            await collect(feed, lambda e, r: False)
    assert len(server.peers) == 1


def test_stream_settings_never_show_the_secret():
    feed = AlpacaStream(AlpacaSettings(key_id="k", secret_key="very-secret"), {"quotes": ["A"]})
    assert "very-secret" not in repr(feed.settings) and "very-secret" not in str(feed.settings)


async def test_stream_when_a_frame_is_malformed_sends_dead_letters_and_continues():
    good = '[{"T":"q","S":"AAPL","bp":1.0,"bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:45Z"}]'
    bad_value = '[{"T":"q","S":"AAPL","bp":"x","bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:46Z"}]'
    server = AlpacaServer(sessions=[Session(frames=[good, "{not json", bad_value, good])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL"]}, policy=FAST)
        _events, rejects = await collect(feed, lambda e, r: len(e) == 2)
    assert [r.field for r in rejects] == ["$", "bp"]
    assert feed.metrics.reconnects == 0


async def test_stream_when_server_goes_silent_drops_it_on_the_heartbeat_and_reconnects():
    quote = '[{"T":"q","S":"AAPL","bp":1.0,"bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:45Z"}]'
    server = AlpacaServer(sessions=[Session(frames=[quote], end="silent"), Session(frames=[quote])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL"]}, policy=FAST)
        _events, _ = await collect(feed, lambda e, r: len(e) == 2)
    assert len(server.peers) == 2 and feed.metrics.reconnects == 1


async def test_stream_when_server_is_slow_keeps_slow_streams_and_retries_slow_handshakes():
    quotes = [
        f'[{{"T":"q","S":"AAPL","bp":1.0,"bs":1,"ap":1.1,"as":2,"t":"2021-02-22T15:51:4{i}Z"}}]'
        for i in range(3)
    ]
    server = AlpacaServer(sessions=[
        Session(welcome_delay_s=1.5),  # longer than open_timeout_s: given up, retried
        Session(frames=quotes, delay_s=0.5),  # slower than the heartbeat interval: kept
    ])  # fmt: skip
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL"]}, policy=FAST)
        _events, _ = await collect(feed, lambda e, r: len(e) == 3)
    assert len(server.peers) == 2 and feed.metrics.connections == 1


async def test_stream_when_bars_were_missed_backfills_them_beside_live_data_without_duplicates():
    symbols = ("AAPL", "MSFT")
    server = AlpacaServer(
        sessions=[
            Session(frames=[bar_frame([m]) for m in range(4)], end="close"),
            # minutes 4-6 happen while disconnected; 6-9 arrive live after the reconnect
            Session(frames=[bar_frame([m]) for m in range(6, 10)]),
        ],
        bars={s: [minute_bar(s, m) for m in range(10)] for s in symbols},
        page_size=3,
        throttled_requests=1,  # the back-fill waits for the rate limit to reset
        hold_rest_until_sent=8,  # and the server answers once the live frames are out
    )
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"bars": list(symbols)}, policy=FAST)
        events, _ = await collect(feed, lambda e, r: feed.metrics.backfilled == 4)
    bars = [e for e in events if isinstance(e, Bar)]
    minute_of = {b: int((b.ts_event // 10**9 - T0.timestamp()) // 60) for b in bars}
    for symbol in symbols:
        assert sorted(m for b, m in minute_of.items() if b.instrument == symbol) == list(range(10))
    order = [minute_of[b] for b in bars if b.instrument == "AAPL"]
    assert order == [0, 1, 2, 3, 6, 7, 8, 9, 4, 5]  # live data was not held by the back-fill
    assert feed.metrics.backfilled == 4  # minutes 4 and 5 of both symbols
    assert feed.metrics.duplicates == 8  # minutes 6-9 of both symbols came live first
    assert len(server.rest_requests) >= 2  # one throttled, then pages of 3
    assert all(r["timeframe"] == "1Min" and r["feed"] == "iex" for r in server.rest_requests)
    assert all(r["start"] < r["end"] for r in server.rest_requests)


async def test_stream_subscribe_at_run_time_is_sent_and_kept_after_a_reconnect():
    server = AlpacaServer()
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL"]}, policy=FAST)
        task = asyncio.create_task(collect(feed, lambda e, r: False, timeout=10))
        await wait_for(lambda: feed.metrics.connections == 1)
        await feed.subscribe({"trades": ["MSFT"]})
        added = json.loads(await server.peers[0].next())
        await server.peers[0].ws.close()  # the server drops the connection
        await wait_for(lambda: feed.metrics.connections == 2)
        task.cancel()
    assert added == {"action": "subscribe", "trades": ["MSFT"]}
    assert json.loads(server.peers[1].received[1]) == {
        "action": "subscribe",
        "quotes": ["AAPL"],
        "trades": ["MSFT"],
    }
    assert feed.subscriptions == {"quotes": ["AAPL"], "trades": ["MSFT"]}


async def test_stream_when_server_does_not_confirm_a_symbol_raises_subscription_error():
    server = AlpacaServer(unconfirmed=("MSFT",))
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AAPL", "MSFT"]}, policy=FAST)
        with pytest.raises(SubscriptionError, match=r"did not confirm.*MSFT"):
            await collect(feed, lambda e, r: False)
    assert len(server.peers) == 1


async def test_history_bars_follows_pages_and_waits_out_rate_limits():
    server = AlpacaServer(bars={"AAPL": [minute_bar("AAPL", m) for m in range(7)]},
                          page_size=2, throttled_requests=1)  # fmt: skip
    async with serving(server.app()) as base, aiohttp.ClientSession() as http:
        history = AlpacaHistory(settings(base), http)
        bars = await history.bars(["AAPL"], start_ns=int(T0.timestamp() * 1e9))
    assert [b.close for b in bars] == [100.5 + m for m in range(7)]
    assert all(b.period == "1m" and b.final for b in bars)
    assert len(server.rest_requests) == 5 and history.rest.waited_s > 0


async def test_history_when_key_is_refused_raises_authentication_error():
    server = AlpacaServer()
    async with serving(server.app()) as base, aiohttp.ClientSession() as http:
        history = AlpacaHistory(settings(base, key="wrong"), http)
        with pytest.raises(AuthenticationError, match="403"):
            await history.bars(["AAPL"], start_ns=0)


def test_stream_quote_record_is_a_quote():
    assert parse_frame(RECORDED[0].encode(), 0).events[0].__class__ is Quote


async def test_news_and_crypto_streams_use_their_endpoints_and_channels():
    news_frame = RECORDED[3]
    server = AlpacaServer(sessions=[Session(frames=[news_frame]), Session(frames=[RECORDED[0]])])
    async with serving(server.app()) as base:
        news = AlpacaStream(settings(base), {"news": ["*"]}, asset_class="news", policy=FAST)
        events, _ = await collect(news, lambda e, r: len(e) >= 1)
        crypto = AlpacaStream(settings(base), {"quotes": ["AMD"]}, asset_class="crypto",
                              policy=FAST)  # fmt: skip
        assert crypto._url().endswith("/v1beta3/crypto/us")
        await collect(crypto, lambda e, r: len(e) >= 1)
    assert {e.TYPE for e in events} == {"news"}
    assert json.loads(server.peers[0].received[1]) == {"action": "subscribe", "news": ["*"]}
    with pytest.raises(ValueError, match="unknown channel 'statuses'"):
        AlpacaStream(settings("http://x"), {"statuses": ["A"]}, asset_class="crypto")
