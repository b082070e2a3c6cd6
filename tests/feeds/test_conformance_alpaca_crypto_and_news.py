"""Conformance to Alpaca's "Real-time Crypto Data" and "Real-time News" pages.

Follows https://docs.alpaca.markets/docs/real-time-crypto-pricing-data (the
``/v1beta3/crypto/{loc}`` stream: trades with the taker side ``tks``, quotes,
minute, updated and daily bars; order books ``o``, which the adapter does not
subscribe) and https://docs.alpaca.markets/docs/streaming-real-time-news (the
``/v1beta1/news`` stream of ``n`` articles). Each data message sent is recorded
exactly once; a type the adapter does not normalize is a dead letter with its
payload.
"""

import json

from quoteflow.events import Bar, News, Quote, Trade
from quoteflow.feeds.alpaca.client import CHANNELS, AlpacaStream
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.config import ConnectionPolicy
from tests.feeds.servers import collect, serving
from tests.feeds.servers.alpaca import AlpacaServer, Session

POLICY = ConnectionPolicy(heartbeat_s=0.4, open_timeout_s=2.0, reconnect_initial_s=0.01,
                          reconnect_max_s=0.05)  # fmt: skip
T = "2024-03-12T10:27:48.858228144Z"
CRYPTO = [
    {"T": "t", "S": "BTC/USD", "p": 71950.5, "s": 0.0021, "t": T, "i": 1120453218, "tks": "B"},
    {"T": "q", "S": "BTC/USD", "bp": 71940.1, "bs": 0.55, "ap": 71960.9, "as": 0.28, "t": T},
    {"T": "b", "S": "BTC/USD", "o": 71900.0, "h": 71990.0, "l": 71880.0, "c": 71950.5,
     "v": 1.25, "t": "2024-03-12T10:27:00Z", "n": 42, "vw": 71941.2},
    {"T": "u", "S": "BTC/USD", "o": 71900.0, "h": 71995.0, "l": 71880.0, "c": 71950.5,
     "v": 1.3, "t": "2024-03-12T10:27:00Z", "n": 43, "vw": 71941.9},
    {"T": "d", "S": "BTC/USD", "o": 70100.0, "h": 72000.0, "l": 69800.0, "c": 71950.5,
     "v": 812.4, "t": "2024-03-12T00:00:00Z", "n": 90211, "vw": 71022.4},
]  # fmt: skip
ORDER_BOOK = {"T": "o", "S": "BTC/USD", "t": T, "b": [{"p": 71940.1, "s": 0.55}],
              "a": [{"p": 71960.9, "s": 0.28}], "r": True}  # fmt: skip
ARTICLE = {"T": "n", "id": 24918784, "headline": "Bitcoin sets a record", "summary": "",
           "author": "Benzinga Newsdesk", "created_at": "2024-03-12T10:00:00Z",
           "updated_at": "2024-03-12T10:00:01Z", "url": "https://example.invalid/a",
           "content": "", "symbols": ["BTCUSD", "COIN"], "source": "benzinga"}  # fmt: skip


def settings(base: str) -> AlpacaSettings:
    return AlpacaSettings(key_id="key-id", secret_key="secret-key",
                          stream_url=base.replace("http://", "ws://"), rest_url=base)  # fmt: skip


async def test_crypto_stream_records_every_subscribed_type_once_and_order_books_as_dead_letters():
    server = AlpacaServer(sessions=[Session(frames=[json.dumps([*CRYPTO, ORDER_BOOK])])])
    everything = {channel: ["BTC/USD"] for channel in CHANNELS["crypto"]}
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), everything, asset_class="crypto", policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: len(e) + len(r) >= 6)
    assert [type(e) for e in events] == [Trade, Quote, Bar, Bar, Bar]
    trade = events[0]
    assert (trade.aggressor_side, trade.trade_id) == ("buy", "1120453218")
    assert trade.ts_event == 1710239268858228144
    assert [b.period for b in events[2:]] == ["1m", "1m", "1d"]
    assert [json.loads(r.payload)["T"] for r in rejects] == ["o"]
    assert server.peers[0].binary_frames == 0


async def test_news_stream_records_one_article_per_symbol_once():
    server = AlpacaServer(sessions=[Session(frames=[json.dumps([ARTICLE])])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"news": ["*"]}, asset_class="news", policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: len(e) >= 2)
    assert rejects == [] and all(isinstance(e, News) for e in events)
    assert sorted(e.instrument for e in events) == ["BTCUSD", "COIN"]
    assert {e.news_id for e in events} == {"24918784"}
    assert json.loads(server.peers[0].received[1]) == {"action": "subscribe", "news": ["*"]}
