"""The demo's exchange: its trades go through the enrichment like any feed's."""

import io

from rich.console import Console

from quoteflow.app.demo import run_demo
from quoteflow.app.settings import Settings


async def test_exchange_trades_are_enriched_with_the_previous_close_move():
    settings = Settings(synthetic={"instruments": 2}, gateway={"port": 0},
                        exchange={"port": 0})  # fmt: skip
    out = io.StringIO()
    sink = await run_demo(settings, duration_s=3, speed=60, console=Console(file=out, width=200))
    enriched = [sink.trades[s] for s in ("ACME", "BOLT", "CRUX") if s in sink.trades]
    assert enriched, out.getvalue()
    for trade in enriched:
        assert trade.provider == "EXCHANGE" and trade.trade_id.startswith(trade.instrument)
        assert trade.move in {"Bullish", "Bearish", "Neutral"} and trade.previous_close > 0
    assert "exchange http://" in out.getvalue()
