"""The order flow simulator against an in-process exchange."""

from decimal import Decimal

from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.simulate import simulate_embedded


async def test_a_simulated_market_trades_with_few_refusals():
    instruments = {
        "ACME": ExchangeInstrument("ACME", Decimal("0.01"), Decimal("25.40"), lot_size=10,
                                   calendar="24/7"),
        "BOLT": ExchangeInstrument("BOLT", Decimal("0.05"), Decimal("120"), calendar="24/7"),
    }  # fmt: skip
    report = await simulate_embedded(instruments, traders=10, rate=2_000, seconds=1.0, seed=3)
    assert report.sent > 1_000 and report.fills > 100
    # traders sometimes cancel or amend an order that has just traded away; nothing else fails
    assert set(report.refused) <= {"unknown_order"}
    assert report.refused["unknown_order"] < 0.1 * report.sent
