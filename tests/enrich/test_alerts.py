from datetime import date

import numpy as np
import pandas as pd

from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.alerts import AlertRules
from quoteflow.enrich.config import AlertSettings, EnrichSettings
from quoteflow.events import Alert, Bar, Trade
from quoteflow.indicators import rsi

S = 1_000_000_000
MONDAY = pd.Timestamp("2024-04-01 14:00", tz="UTC").value


def bar(i: int, close: float, volume: float = 10.0) -> Bar:
    ts = MONDAY + i * 60 * S
    return Bar("T", "A", ts, ts + 7, "1m", close, close, close, close, volume)


def run_bars(settings: AlertSettings, closes, volumes=None) -> list[Alert]:
    rules = AlertRules(settings)
    state = rules.new_state()
    volumes = volumes or [10.0] * len(closes)
    return [
        a
        for i, (c, v) in enumerate(zip(closes, volumes, strict=True))
        for a in rules.on_bar(state, bar(i, c, v))
    ]


OFF = {"rsi_period": None, "volume_spike_factor": None, "sma_cross": None}


def test_sma_crossovers_fire_once_per_cross_with_the_bar_timestamps():
    closes = [10, 9, 8, 7, 6, 7, 9, 12, 14, 12, 9, 6]
    alerts = run_bars(AlertSettings(**{**OFF, "sma_cross": (2, 4)}), closes)
    assert [a.rule for a in alerts] == ["sma_golden_cross", "sma_death_cross"]
    golden = alerts[0]
    assert golden.value > golden.threshold and "SMA 2 crossed above SMA 4" in golden.message
    index = [bar(i, c).ts_event for i, c in enumerate(closes)].index(golden.ts_event)
    assert golden.ts_recv == golden.ts_event + 7 and index == 6


def test_rsi_crossing_overbought_and_oversold_levels():
    closes = [14.0, 13, 12, 11, 12, 13, 14, 15, 14, 12, 10]
    values = rsi(np.array(closes), 2)
    expected = [
        ("rsi_overbought", i) if values[i] > 70 >= values[i - 1] else ("rsi_oversold", i)
        for i in range(3, len(closes))
        if values[i] > 70 >= values[i - 1] or values[i] < 30 <= values[i - 1]
    ]
    alerts = run_bars(AlertSettings(**{**OFF, "rsi_period": 2}), closes)
    assert [r for r, _ in expected] == ["rsi_overbought", "rsi_oversold"]
    assert [(a.rule, a.ts_event) for a in alerts] == [(r, bar(i, 0).ts_event) for r, i in expected]


def test_volume_spike_against_the_average_of_the_previous_bars():
    volumes = [10, 10, 10, 29, 31, 10]
    alerts = run_bars(AlertSettings(**{**OFF, "volume_spike_factor": 2.0, "volume_window": 3}),
                      [1.0] * 6, volumes)  # fmt: skip
    assert [(a.rule, a.value) for a in alerts] == [("volume_spike", 29.0)]
    assert alerts[0].threshold == 20.0


def test_price_levels_session_extremes_and_move_changes_through_the_job():
    alerts_config = AlertSettings(**OFF, levels={"A": [105.0]})
    settings = EnrichSettings(indicators="sma:2", alerts=alerts_config)
    job = Enricher(settings, PreviousCloses({"A": {date(2024, 3, 28): 100.0}}))
    prices = [101.0, 104.0, 106.0, 104.0, 99.0]
    trades = [
        Trade("T", "A", MONDAY + i * S, MONDAY + i * S + 3, p, 1.0) for i, p in enumerate(prices)
    ]
    out, _ = job.process(trades, job.initial_state())
    alerts = [r for t, r in out if t == "alerts"]
    assert [(a.rule, a.value) for a in alerts] == [
        ("session_high", 104.0),
        ("price_above_level", 106.0),
        ("session_high", 106.0),
        ("move_change", 106.0),  # Neutral -> Bullish at +6%
        ("price_below_level", 104.0),
        ("move_change", 104.0),  # back to Neutral
        ("session_low", 99.0),
    ]
    assert alerts[1].ts_event == MONDAY + 2 * S and alerts[1].ts_recv == MONDAY + 2 * S + 3
    assert alerts[3].message == "move changed from Neutral to Bullish"


def test_session_extremes_restart_with_a_new_session():
    closes = PreviousCloses({"A": {date(2024, 3, 28): 100.0, date(2024, 4, 1): 100.0}})
    alerts = AlertSettings(**OFF, move_changes=False)
    job = Enricher(EnrichSettings(indicators="sma:2", alerts=alerts), closes)
    tuesday = MONDAY + 24 * 3600 * S
    prices = [(MONDAY, 100.0), (MONDAY + S, 101.0), (tuesday, 90.0), (tuesday + S, 89.0)]
    trades = [Trade("T", "A", ts, ts, price, 1.0) for ts, price in prices]
    out, _ = job.process(trades, job.initial_state())
    fired = [(a.rule, a.value, a.threshold) for topic, a in out if topic == Alert.TYPE]
    assert fired == [("session_high", 101.0, 100.0), ("session_low", 89.0, 90.0)]
