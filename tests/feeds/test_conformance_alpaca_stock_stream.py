"""Conformance to Alpaca's "Real-time Stock Data" and "Streaming Market Data" pages.

Follows https://docs.alpaca.markets/docs/real-time-stock-pricing-data (channels
and message schemas) and https://docs.alpaca.markets/docs/streaming-market-data
(handshake, control messages, arrays of messages, text frames). The local
server sends every message type a subscription to every channel the adapter
offers can deliver: trades ``t`` with their corrections ``c`` and cancels or
errors ``x``, quotes ``q``, minute bars ``b``, daily bars ``d``, updated bars
``u``, statuses ``s``; and message types the adapter does not normalize (LULD
``l``, and one no page documents), which must come out as dead letters with
their payload. Every data message sent is recorded exactly once.
"""

import json

from quoteflow.events import Bar, Quote, Status, Trade, TradeCancel, TradeCorrection
from quoteflow.feeds.alpaca.client import CHANNELS, AlpacaStream
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.config import ConnectionPolicy
from tests.conftest import FIXTURES
from tests.feeds.servers import collect, serving
from tests.feeds.servers.alpaca import AlpacaServer, Session

POLICY = ConnectionPolicy(heartbeat_s=0.4, open_timeout_s=2.0, reconnect_initial_s=0.01,
                          reconnect_max_s=0.05)  # fmt: skip
CORRECTIONS = json.loads((FIXTURES / "alpaca" / "corrections.json").read_text())
DOCUMENTED = {
    "t": {"T": "t", "i": 96921, "S": "AAPL", "x": "D", "p": 126.55, "s": 1,
          "t": "2021-02-22T15:51:44.208Z", "c": ["@", "I"], "z": "C"},
    "q": {"T": "q", "S": "AAPL", "bx": "U", "bp": 87.66, "bs": 1, "ax": "Q", "ap": 87.68, "as": 4,
          "t": "2021-02-22T15:51:45.335689322Z", "c": ["R"], "z": "C"},
    "b": {"T": "b", "S": "AAPL", "o": 388.985, "h": 389.13, "l": 388.975, "c": 389.12, "v": 49378,
          "t": "2021-02-22T19:15:00Z", "n": 461, "vw": 389.062639},
    "d": {"T": "d", "S": "AAPL", "o": 388.5, "h": 390.1, "l": 387.2, "c": 389.12, "v": 1234567,
          "t": "2021-02-22T05:00:00Z", "n": 9876, "vw": 389.1},
    "u": {"T": "u", "S": "AAPL", "o": 388.985, "h": 389.2, "l": 388.975, "c": 389.12, "v": 49500,
          "t": "2021-02-22T19:15:00Z", "n": 462, "vw": 389.07},
    "s": {"T": "s", "S": "AAPL", "sc": "H", "sm": "Trading Halt", "rc": "T12",
          "rm": "Trading Halted; For information requested by NASDAQ",
          "t": "2021-02-22T15:51:44.208Z", "z": "C"},
    "c": {**CORRECTIONS[0]["raw"], "S": "AAPL"},
    "x": {**CORRECTIONS[1]["raw"], "S": "AAPL"},
}  # fmt: skip
RECORD_OF = {"t": Trade, "q": Quote, "b": Bar, "d": Bar, "u": Bar, "s": Status,
             "c": TradeCorrection, "x": TradeCancel}  # fmt: skip
UNNORMALIZED = [
    {"T": "l", "S": "AAPL", "u": 130.0, "d": 120.0, "i": "B", "t": "2021-02-22T15:51:44.208Z",
     "z": "C"},
    {"T": "zz", "S": "AAPL", "t": "2021-02-22T15:51:44.208Z"},
]  # fmt: skip


def settings(base: str) -> AlpacaSettings:
    return AlpacaSettings(key_id="key-id", secret_key="secret-key",
                          stream_url=base.replace("http://", "ws://"), rest_url=base)  # fmt: skip


async def test_every_documented_message_type_is_recorded_once_and_the_rest_are_dead_letters():
    data = [dict(DOCUMENTED[kind], S=symbol) for symbol in ("AAPL", "MSFT") for kind in DOCUMENTED]
    frames = [json.dumps(data[:7]), json.dumps(data[7:] + UNNORMALIZED)]  # arrays, as documented
    server = AlpacaServer(sessions=[Session(frames=frames)])
    everything = {channel: ["AAPL", "MSFT"] for channel in CHANNELS["stocks"]}
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), everything, policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: len(e) + len(r) >= len(data) + 2)
    peer = server.peers[0]
    assert peer.binary_frames == 0  # control messages in text frames
    assert json.loads(peer.received[1]) == {"action": "subscribe", **everything}
    sent = [(RECORD_OF[m["T"]], m["S"]) for m in data]
    assert sorted((type(e).__name__, e.instrument) for e in events) == sorted(
        (cls.__name__, symbol) for cls, symbol in sent
    )
    assert [r.field for r in rejects] == ["T", "T"]
    assert [json.loads(r.payload)["T"] for r in rejects] == ["l", "zz"]


async def test_control_messages_in_a_data_frame_are_handled_not_recorded():
    frame = json.dumps([{"T": "subscription", "trades": ["AAPL"], "quotes": [], "bars": []},
                        DOCUMENTED["t"]])  # fmt: skip
    server = AlpacaServer(sessions=[Session(frames=[frame])])
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"trades": ["AAPL"]}, policy=POLICY)
        events, rejects = await collect(feed, lambda e, r: len(e) >= 1)
    assert [type(e) for e in events] == [Trade] and rejects == []
