"""The enrichment job: an operator that turns quotes and trades into enriched records.

For every quote and trade it adds the move against the previous business day's
close (Bullish / Bearish / Neutral at a threshold, and the percent change) and
the latest values of the configured indicators on closed candles. It also
emits the candles themselves, and applies trade corrections and cancels to
them (:mod:`quoteflow.enrich.amendments`). Events are handled one at a time in
offset order, so the outputs do not depend on how the stream is cut into
batches; the state snapshots to bytes and restores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import groupby

import msgspec
import numpy as np
import pyarrow as pa

from quoteflow.enrich.alerts import AlertRules, AlertState
from quoteflow.enrich.amendments import TradeLedger, apply_amendment, retry_waiting
from quoteflow.enrich.columnar import MarketRun, enrich_run
from quoteflow.enrich.config import EnrichSettings
from quoteflow.enrich.previous_close import PreviousCloses
from quoteflow.enrich.state import (
    EnrichState,
    InstrumentSnapshot,
    InstrumentState,
    Output,
    StateSnapshot,
)
from quoteflow.events import (
    Alert,
    Bar,
    EnrichedQuote,
    EnrichedTrade,
    Event,
    Interleaved,
    Quote,
    Trade,
    TradeCancel,
    TradeCorrection,
    batch_type,
    conform,
    from_batch,
    to_batch,
)
from quoteflow.indicators._stacked import StackedIndicators
from quoteflow.indicators.candles import CandleBuilder
from quoteflow.indicators.spec import IndicatorSpec, parse_specs

__all__ = ["BEARISH", "BULLISH", "NEUTRAL", "EnrichState", "Enricher"]

BULLISH = "Bullish"
BEARISH = "Bearish"
NEUTRAL = "Neutral"


class Enricher:
    """Enrich quotes and trades; an operator for :class:`~quoteflow.runtime.Stage`.

    Inputs are :attr:`input_topics`. Outputs go to ``quotes.enriched``,
    ``trades.enriched``, ``bars.<period>`` (corrected bars included),
    ``alerts`` and ``dead_letters`` (late events). ``previous_closes`` supplies
    reference closes.
    """

    input_topics: tuple[str, ...] = (Quote.TYPE, Trade.TYPE, TradeCorrection.TYPE,
                                     TradeCancel.TYPE)  # fmt: skip
    """The topics the job reads: quotes, trades, and the trades' corrections and cancels."""

    def __init__(self, settings: EnrichSettings, previous_closes: PreviousCloses) -> None:
        self.settings = settings
        self.previous_closes = previous_closes
        self.specs: list[IndicatorSpec] = parse_specs(settings.indicators)
        self.spec_columns = [spec.columns() for spec in self.specs]
        self.columns: list[str] = list(dict.fromkeys(c for cs in self.spec_columns for c in cs))
        self.rules = AlertRules(settings.alerts)
        self.stacked = StackedIndicators([s.build() for s in self.specs], self.spec_columns,
                                         self.columns)  # fmt: skip
        self.candles = CandleBuilder(
            settings.period,
            every=settings.every,
            allowed_lateness_ms=settings.allowed_lateness_ms,
            calendar=settings.calendar,
        )
        self.horizon_ns = int(settings.correction_horizon_s * 1e9)
        self._warm_up()

    @property
    def output_topics(self) -> tuple[str, ...]:
        """Return the topics this job publishes to (dead letters aside)."""
        return (EnrichedQuote.TYPE, EnrichedTrade.TYPE, self.candles.topic, Alert.TYPE)

    def _warm_up(self) -> None:
        """Load the indicator and alert code now, not at the first closed bar of a live feed.

        The first bar otherwise pays for loading the compiled kernels: a stall in
        the middle of the stream.
        """
        bar = Bar("", "", 0, 0, period=self.settings.period, open=1.0, high=1.0, low=1.0,
                  close=1.0, volume=1.0)  # fmt: skip
        self.on_bar(self.initial_state(), bar)
        self.stacked.warm_up()

    def initial_state(self) -> EnrichState:
        """Return the state of a partition that has seen nothing."""
        return EnrichState(ledger=TradeLedger(self.horizon_ns))

    def _ledger(self, state: EnrichState) -> TradeLedger:
        if state.ledger is None:
            state.ledger = TradeLedger(self.horizon_ns)
        return state.ledger

    def _amend(self, state: EnrichState, amendment: TradeCorrection | TradeCancel) -> list[Output]:
        """Apply a correction or cancel to the candles; return the corrected closed bars."""
        state.sync()
        bars = apply_amendment(self._ledger(state), self.candles, state.candles, amendment,
                               state.amended)  # fmt: skip
        return [(self.candles.topic, bar) for bar in bars]

    def remember_trades(self, state: EnrichState, trades: pa.RecordBatch) -> list[Output]:
        """Keep trades that went into the candles; apply the amendments that waited for them.

        Returns the corrected closed bars those amendments give.
        """
        ledger = self._ledger(state)
        added = ledger.add_batch(trades)
        if not ledger.waiting or not added.num_rows:
            return []
        state.sync()
        bars = retry_waiting(ledger, added, self.candles, state.candles, state.amended)
        return [(self.candles.topic, bar) for bar in bars]

    def instrument_state(self, state: EnrichState, name: str) -> InstrumentState:
        """Return the state of instrument ``name``, created on first use."""
        inst = state.instruments.get(name)
        if inst is None:
            inst = state.instruments[name] = InstrumentState(
                [s.build() for s in self.specs], self.rules.new_state()
            )
        return inst

    def on_bar(self, state: EnrichState, bar: Bar) -> list[Output]:
        """Update the indicators with a closed bar; return the bar and its alerts.

        The indicator values are kept in the order of :attr:`columns`.
        """
        inst = self.instrument_state(state, bar.instrument)
        values = inst.values
        known = len(values)
        for names, indicator in zip(self.spec_columns, inst.indicators, strict=True):
            for name, value in zip(names, indicator.update_from(bar), strict=True):
                if value == value:  # not NaN: the indicator is past its warm-up
                    values[name] = value
        if len(values) != known:
            inst.values = {name: values[name] for name in self.columns if name in values}
        return self.bar_outputs(inst.alerts, bar)

    def bar_outputs(self, alerts: AlertState, bar: Bar) -> list[Output]:
        """Return a closed bar and the bar alerts it fires, given its instrument's alert state."""
        fired = self.rules.on_bar(alerts, bar)
        return [(self.candles.topic, bar), *((Alert.TYPE, alert) for alert in fired)]

    def process(
        self, batch: Sequence[Item] | pa.RecordBatch, state: EnrichState
    ) -> tuple[list[Output | tuple[str, pa.RecordBatch]], EnrichState]:
        """Enrich quotes and trades (other records pass by); return outputs, state.

        ``batch`` is a sequence of records, Arrow batches (each of one record
        type) and :class:`~quoteflow.events.Interleaved` streams in offset order,
        or one Arrow batch. Each run of quotes and trades goes through the
        compiled engine as one :class:`~quoteflow.enrich.columnar.MarketRun`:
        its enriched records come as one Arrow batch per kind. Corrections and
        cancels apply between runs, in their place in the stream.
        """
        items = [batch] if isinstance(batch, pa.RecordBatch) else batch
        out: list[Output | tuple[str, pa.RecordBatch]] = []
        for role, run in groupby(_split_streams(items), key=_role):
            if role is _MARKET:
                outputs, state = enrich_run(self, _market_run(list(run)), state)
                out.extend(outputs)
            elif role is _AMENDMENT:
                for item in run:
                    amendments = from_batch(item) if isinstance(item, pa.RecordBatch) else [item]
                    for amendment in amendments:
                        out.extend(self._amend(state, amendment))  # type: ignore[arg-type]
        return out, state

    def flush(self, state: EnrichState, until_ns: int | None = None) -> list[Output]:
        """Close candles ending by ``until_ns`` (default: all) and update the indicators."""
        state.sync()
        out: list[Output] = []
        for topic, record in self.candles.flush(state.candles, until_ns):
            if isinstance(record, Bar):
                out.extend(self.on_bar(state, record))
            else:
                out.append((topic, record))
        return out

    @staticmethod
    def snapshot(state: EnrichState) -> bytes:
        """Return the state as bytes."""
        state.sync(keep=True)
        instruments = {
            name: InstrumentSnapshot(
                [i.snapshot() for i in inst.indicators],
                AlertRules.snapshot(inst.alerts),
                inst.values,
                inst.last_trade,
                inst.last_mid,
            )
            for name, inst in state.instruments.items()
        }
        ledger = None if state.ledger is None else state.ledger.snapshot()
        snapshot = StateSnapshot(
            state.candles, instruments, dict(state.missing), ledger, dict(state.amended)
        )
        return msgspec.msgpack.encode(snapshot)

    def restore(self, data: bytes) -> EnrichState:
        """Return the state from :meth:`snapshot` bytes."""
        snap = msgspec.msgpack.decode(data, type=StateSnapshot)
        instruments = {
            name: InstrumentState(
                [
                    type(s.build()).restore(b)
                    for s, b in zip(self.specs, inst.indicators, strict=True)
                ],
                AlertRules.restore(inst.alerts),
                inst.values,
                inst.last_trade,
                inst.last_mid,
            )
            for name, inst in snap.instruments.items()
        }
        ledger = None if snap.ledger is None else TradeLedger.restore(snap.ledger, self.horizon_ns)
        return EnrichState(snap.candles, instruments, Counter(snap.missing), ledger=ledger,
                           amended=Counter(snap.amended))  # fmt: skip


_MARKET = "market"
_AMENDMENT = "amendment"
_MIXED = "mixed"  # a stream of market records and others: split into its runs


Item = Event | pa.RecordBatch | Interleaved


def _kind(item: Item) -> type:
    """Return the record type of a record or batch; for a stream, the type if it has one."""
    if isinstance(item, pa.RecordBatch):
        return batch_type(item.schema) or pa.RecordBatch
    if isinstance(item, Interleaved):
        kinds = {batch_type(b.schema) for b in item.batches}
        return kinds.pop() if len(kinds) == 1 else Interleaved
    return item.__class__


def _role(item: Item) -> str | None:
    """Return what the job does with an item: enrich it, apply it, or let it pass by."""
    kind = _kind(item)
    if kind is Quote or kind is Trade:
        return _MARKET
    if kind is TradeCorrection or kind is TradeCancel:
        return _AMENDMENT
    if kind is Interleaved:
        kinds = {batch_type(b.schema) for b in item.batches}  # type: ignore[union-attr]
        return _MARKET if kinds <= {Quote, Trade} else _MIXED
    return None


def _market_run(items: list[Item]) -> MarketRun:
    """Return quotes and trades (records, batches, streams) in their order as a MarketRun."""
    quotes: list[pa.RecordBatch] = []
    trades: list[pa.RecordBatch] = []
    kinds: list[np.ndarray] = []
    for form, group in groupby(items, key=_form):
        if form is list:  # records, quotes and trades mixed: one batch of each, and the order
            records = list(group)
            is_trade = [type(record) is Trade for record in records]
            mine = [record for record, trade in zip(records, is_trade, strict=True) if not trade]
            if mine:
                quotes.append(to_batch(mine, Quote))
            if len(mine) < len(records):
                trades.append(to_batch([r for r in records if type(r) is Trade], Trade))
            kinds.append(np.array(is_trade, dtype=np.int8))
        elif form is pa.RecordBatch:
            for batch in group:
                kind = _kind(batch)
                (trades if kind is Trade else quotes).append(conform(batch, kind))
                kinds.append(np.full(batch.num_rows, kind is Trade, dtype=np.int8))
        else:
            for stream in group:
                kinds.append(_add_stream(stream, quotes, trades))  # type: ignore[arg-type]
    if not trades:
        return MarketRun(_concatenated(quotes), None)
    if not quotes:
        return MarketRun(None, _concatenated(trades))
    return MarketRun(_concatenated(quotes), _concatenated(trades), np.concatenate(kinds))


def _add_stream(
    stream: Interleaved, quotes: list[pa.RecordBatch], trades: list[pa.RecordBatch]
) -> np.ndarray:
    """Add a stream's quotes and trades to the lists, in its order; return its kinds."""
    is_trade = np.array([batch_type(b.schema) is Trade for b in stream.batches], dtype=np.int8)
    kinds = is_trade[stream.order]
    for flag, out in ((0, quotes), (1, trades)):
        mine = [b for b, t in zip(stream.batches, is_trade.tolist(), strict=True) if t == flag]
        if len(mine) == 1:
            out.append(conform(mine[0], Trade if flag else Quote))
        elif mine:  # several batches of one kind: their rows interleave in the stream
            numbered = [i for i, t in enumerate(is_trade.tolist()) if t == flag]
            order = stream.order[kinds == flag]
            table = pa.Table.from_batches([conform(stream.batches[i], Trade if flag else Quote)
                                           for i in numbered]).combine_chunks()  # fmt: skip
            places = _stream_places(order)
            out.append(table.take(pa.array(places)).to_batches()[0])
    return kinds


def _stream_places(order: np.ndarray) -> np.ndarray:
    """Return each record's row in the batches' concatenation (batches in ascending number).

    ``order`` gives the batch of each record in stream order.
    """
    places = np.empty(len(order), dtype=np.int64)
    places[np.argsort(order, kind="stable")] = np.arange(len(order))
    return places


def _split_streams(items: Sequence[Item]) -> Iterator[Item]:
    """Yield the items, streams that hold other records than quotes and trades cut in runs.

    A run of quotes and trades stays a stream; the other records come out one by one.
    """
    for item in items:
        if not isinstance(item, Interleaved) or _role(item) is not _MIXED:
            yield item
            continue
        market = [batch_type(b.schema) in (Quote, Trade) for b in item.batches]
        in_market = np.array(market, dtype=np.bool_)[item.order]
        cuts = np.flatnonzero(np.diff(in_market.astype(np.int8))) + 1
        for start, stop in zip([0, *cuts.tolist()], [*cuts.tolist(), item.num_rows], strict=True):
            piece = item.slice(start, stop)
            if not in_market[start]:
                yield from piece.records()
                continue
            keep = [i for i, flag in enumerate(market) if flag]
            renumber = np.full(len(market), -1, dtype=np.int8)
            renumber[keep] = np.arange(len(keep), dtype=np.int8)
            yield Interleaved(tuple(piece.batches[i] for i in keep), renumber[piece.order])


def _form(item: Item) -> type:
    """Return the form of ``item``: list (a record), batch or stream."""
    if isinstance(item, Interleaved):
        return Interleaved
    return pa.RecordBatch if isinstance(item, pa.RecordBatch) else list


def _concatenated(batches: list[pa.RecordBatch]) -> pa.RecordBatch | None:
    """Return batches of one schema as one batch (None for none)."""
    if len(batches) <= 1:
        return batches[0] if batches else None
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
