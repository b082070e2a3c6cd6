"""Trade analytics in hopping windows, checked against values worked out by hand."""

import pytest

from quoteflow.events import Trade
from quoteflow.events.exchange import WindowLeader, WindowStats
from quoteflow.exchange.analytics import LEADERS_TOPIC, STATS_TOPIC, TradeAnalytics

MINUTE = 60 * 10**9


def trade(symbol, minute, price, size=1.0):
    ts = int(minute * MINUTE)
    return Trade("EXCHANGE", symbol, ts, ts, price=price, size=size)


def test_sma_open_close_profit_per_window_and_the_leader():
    analytics = TradeAnalytics("10m", "5m", allowed_lateness_ms=0)
    out = analytics.process([trade("ACME", 1, 10.0), trade("BOLT", 2, 100.0, 3),
                             trade("ACME", 4, 11.0), trade("ACME", 7, 12.0),
                             trade("BOLT", 8, 110.0), trade("ACME", 12, 9.0)])  # fmt: skip
    out += analytics.advance(20 * MINUTE)
    stats = [(s.instrument, s.ts_event // MINUTE, s.trades, s.open, s.close, s.sma, s.profit,
              s.profit_pct) for topic, _, s in out if topic == STATS_TOPIC]  # fmt: skip
    assert sorted(stats) == sorted([
        ("ACME", -5, 2, 10.0, 11.0, 10.5, 1.0, pytest.approx(10.0)),
        ("ACME", 0, 3, 10.0, 12.0, 11.0, 2.0, pytest.approx(20.0)),
        ("ACME", 5, 2, 12.0, 9.0, 10.5, -3.0, pytest.approx(-25.0)),
        ("ACME", 10, 1, 9.0, 9.0, 9.0, 0.0, 0.0),
        ("BOLT", -5, 1, 100.0, 100.0, 100.0, 0.0, 0.0),
        ("BOLT", 0, 2, 100.0, 110.0, 105.0, 10.0, pytest.approx(10.0)),
        ("BOLT", 5, 1, 110.0, 110.0, 110.0, 0.0, 0.0),
    ])  # fmt: skip
    leaders = [(r.ts_event // MINUTE, r.instrument, r.symbols) for topic, _, r in out
               if topic == LEADERS_TOPIC]  # fmt: skip
    assert leaders == [(-5, "ACME", 2), (0, "ACME", 2), (5, "BOLT", 2), (10, "ACME", 1)]
    assert isinstance(analytics.leaders[-1], WindowLeader)
    assert [s.ts_event // MINUTE for s in analytics.latest["BOLT"]] == [-5, 0, 5]
    bolt = next(s for s in analytics.latest["BOLT"] if s.ts_event == 0)
    assert bolt == WindowStats("EXCHANGE", "BOLT", 0, 8 * MINUTE, 10 * MINUTE, 2, 4.0, 100.0,
                               110.0, 105.0, 10.0, pytest.approx(10.0))  # fmt: skip


def test_a_window_closes_only_after_the_lateness_and_late_trades_are_counted():
    analytics = TradeAnalytics("10m", "5m", allowed_lateness_ms=60_000)
    out = analytics.process([trade("ACME", 1, 10.0), trade("ACME", 5.5, 10.5)])
    assert out == []  # -5..5 ends at 5, but the watermark is 4.5
    out = analytics.process([trade("ACME", 4.9, 10.2), trade("ACME", 6.5, 10.1)])
    (closed,) = [s for _, _, s in out]
    assert (closed.ts_event, closed.trades, closed.close) == (-5 * MINUTE, 2, 10.2)
    analytics.process([trade("ACME", 3, 9.0)])  # only 0..10 is still open for it
    analytics.process([trade("ACME", 20, 9.0)])
    analytics.process([trade("ACME", 9, 9.0)])  # every window of minute 9 has closed
    assert analytics.late == 1


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="must divide"):
        TradeAnalytics("10m", "3m")
