"""The enrichment one record at a time: the plain reference the batch engine is checked against.

It follows the job's rules in the most direct way (each event goes into its
candles, updates its instrument's last trade or mid, gets its move against the
previous close and fires its price alerts) and is slow on purpose: nothing in
``src`` runs it. It shares the job's candle builder, indicators, alert rules
and amendment code, and leaves the same state behind as the engine.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

from quoteflow.enrich._kernel import ON_THRESHOLD_PCT
from quoteflow.enrich.alerts import AlertState
from quoteflow.enrich.job import BEARISH, BULLISH, NEUTRAL, Enricher, EnrichState
from quoteflow.events import (
    Alert,
    Bar,
    EnrichedQuote,
    EnrichedTrade,
    Event,
    Quote,
    Trade,
    TradeCancel,
    TradeCorrection,
    from_batch,
    to_batch,
)


def by_topic(outputs: list) -> dict[str, list]:
    """Return a job's outputs as records per topic, in order (Arrow batches as their records)."""
    topics: dict[str, list] = {}
    for topic, output in outputs:
        records = from_batch(output) if isinstance(output, pa.RecordBatch) else [output]
        topics.setdefault(topic, []).extend(records)
    return topics


def move(
    job: Enricher, state: EnrichState, event: Event, price: float | None
) -> tuple[float | None, float | None, str | None, str | None]:
    """Return (previous close, change %, move, why the move is missing)."""
    settings = job.settings
    if price is None:
        reason = "no trade yet" if settings.price == "trade" else "no quote yet"
        state.missing[reason] += 1
        return None, None, None, reason
    close, reason = job.previous_closes.lookup(event.instrument, event.ts_event)
    if close is None or close <= 0:
        reason = reason or "previous close is not positive"
        state.missing[reason] += 1
        return close, None, None, reason
    change = (price - close) / close * 100.0
    threshold = settings.thresholds_pct.get(event.instrument, settings.threshold_pct)
    if change >= threshold - ON_THRESHOLD_PCT:
        return close, change, BULLISH, None
    if change <= ON_THRESHOLD_PCT - threshold:
        return close, change, BEARISH, None
    return close, change, NEUTRAL, None


def enriched(job: Enricher, state: EnrichState, event: Quote | Trade) -> list:
    """Return the enriched record of ``event`` and the price alerts it fires."""
    inst = job.instrument_state(state, event.instrument)
    if isinstance(event, Trade):
        inst.last_trade = event.price
    elif event.bid_price and event.ask_price:
        inst.last_mid = (event.bid_price + event.ask_price) / 2
    price = inst.last_trade if job.settings.price == "trade" else inst.last_mid
    previous, change, moved, missing = move(job, state, event, price)
    extra = (price, previous, change, moved, missing, dict(inst.values))
    fields = msgspec.structs.astuple(event)
    if isinstance(event, Trade):
        record = (EnrichedTrade.TYPE, EnrichedTrade(*fields, *extra))
    else:
        record = (EnrichedQuote.TYPE, EnrichedQuote(*fields, *extra))
    session = job.previous_closes.previous_session(event.ts_event).toordinal()
    alerts = price_alerts(job, inst.alerts, event, price, session, moved)
    return [record, *((Alert.TYPE, alert) for alert in alerts)]


def price_alerts(
    job: Enricher,
    state: AlertState,
    event: Event,
    price: float | None,
    session: int,
    moved: str | None,
) -> list[Alert]:
    """Evaluate the price rules (levels, session extremes, move changes) on one event."""
    s, rules = job.settings.alerts, job.rules
    alerts: list[Alert] = []
    if price is not None:
        previous = state.last_price
        for level in s.levels.get(event.instrument, ()) if previous is not None else ():
            if previous < level <= price:
                alerts.append(rules.price_alert(event, "price_above_level", price, level))
            elif previous > level >= price:
                alerts.append(rules.price_alert(event, "price_below_level", price, level))
        state.last_price = price
        if s.session_extremes:
            if session != state.session:
                state.session, state.high, state.low = session, price, price
            elif price > state.high:
                alerts.append(rules.price_alert(event, "session_high", price, state.high))
                state.high = price
            elif price < state.low:
                alerts.append(rules.price_alert(event, "session_low", price, state.low))
                state.low = price
    if s.move_changes and moved is not None:
        if state.last_move is not None and moved != state.last_move:
            moves = (state.last_move, moved)
            alerts.append(rules.price_alert(event, "move_change", price, None, moves))
        state.last_move = moved
    return alerts


def reference_process(job: Enricher, events: list, state: EnrichState) -> tuple[list, EnrichState]:
    """Enrich ``events`` one at a time; return the outputs (all records) and the state."""
    state.sync()
    out: list = []
    trades: list[Trade] = []

    def remember() -> None:
        if trades:
            out.extend(job.remember_trades(state, to_batch(trades, Trade)))
            trades.clear()

    for event in events:
        if event.__class__ is TradeCorrection or event.__class__ is TradeCancel:
            remember()
            out.extend(job._amend(state, event))
            continue
        if event.__class__ is not Quote and event.__class__ is not Trade:
            continue
        counted = True  # the event went into its candles (it was not late, nor outside)
        for topic, record in job.candles.add(event, state.candles):
            if isinstance(record, Bar):
                out.extend(job.on_bar(state, record))
            else:
                out.append((topic, record))
                counted = False
        out.extend(enriched(job, state, event))
        if counted and isinstance(event, Trade):
            trades.append(event)
    remember()
    return out, state
