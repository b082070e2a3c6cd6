"""Every provider folder keeps the template's contract; the template itself works end to end."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from quoteflow.events import Quote
from quoteflow.feeds import PROVIDERS, ProviderEntry, provider
from quoteflow.feeds._template.config import ExampleSettings
from quoteflow.feeds._template.factories import live_feed
from quoteflow.feeds.config import LiveFeedSettings
from quoteflow.feeds.connection import WebSocketFeed
from quoteflow.feeds.normalize import normalize_lines

TEMPLATE = ProviderEntry("example", "quoteflow.feeds._template")
FILES = {"__init__.py", "config.py", "schemas.py", "parsing.py", "client.py", "factories.py"}


@pytest.mark.parametrize("entry", [*PROVIDERS.values(), TEMPLATE], ids=lambda e: e.name)
def test_a_provider_folder_has_the_templates_files_and_names(entry):
    folder = Path(entry.module().__file__).parent
    assert {path.name for path in folder.glob("*.py")} >= FILES
    module = entry.module()
    assert isinstance(module.PROVIDER, str) and module.PROVIDER.isupper()
    assert callable(entry.parse_message)
    assert issubclass(entry.settings_class(), LiveFeedSettings)
    assert inspect.iscoroutinefunction(entry.factories().live_feed)


def test_an_unknown_provider_names_the_known_ones():
    with pytest.raises(ValueError, match="known: alpaca, deribit, ig"):
        provider("bloomberg")


def test_a_provider_whose_messages_name_no_instrument_needs_one():
    with pytest.raises(ValueError, match="give instrument"):
        list(normalize_lines(["{}"], "ig"))


def test_the_template_parses_messages_and_frames_alike():
    message = {"sym": "X", "bid": 1.0, "ask": 1.25, "t": 1_700_000_000_000}
    expected = [Quote("EXAMPLE", "X", 1_700_000_000_000_000_000, 5, bid_price=1.0,
                      ask_price=1.25)]  # fmt: skip
    assert TEMPLATE.parse_message(message, 5) == expected
    assert TEMPLATE.parse_frame(msgspec.json.encode([message]), 5).events == expected
    bad = TEMPLATE.parse_frame(b'[{"sym": "X", "bid": "one", "ask": 1, "t": 1}]', 5)
    assert bad.events == [] and bad.rejects[0].field == "bid"


async def test_the_template_client_subscribes_and_reads_quotes_over_a_real_websocket():
    frames = [[{"sym": "X", "bid": 1.0, "ask": 1.5, "t": 1_000}],
              [{"sym": "Y", "bid": 2.0, "ask": 2.5, "t": 2_000}]]  # fmt: skip
    asked = []

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        asked.append(msgspec.json.decode((await ws.receive()).data))
        await ws.send_str('"ok"')
        for frame in frames:
            await ws.send_str(msgspec.json.encode(frame).decode())
        await asyncio.sleep(10)
        return ws

    app = web.Application()
    app.router.add_get("/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        settings = ExampleSettings(stream_url=f"ws://127.0.0.1:{port}/stream", api_key="k")
        feed = await live_feed(settings, ["X", "Y"])
        assert isinstance(feed, WebSocketFeed)
        got = []
        async for normalized in feed.stream():
            got.extend(normalized.events)
            if len(got) == 2:
                break
    finally:
        await runner.cleanup()
    assert asked == [{"key": "k", "subscribe": ["X", "Y"]}]
    assert [(q.instrument, q.ts_event, q.ask_price) for q in got] == [
        ("X", 1_000_000_000, 1.5), ("Y", 2_000_000_000, 2.5)]  # fmt: skip
