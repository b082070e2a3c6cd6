"""The record types every part of quoteflow speaks, and their Arrow form.

Units, stated once for the whole package: every ``ts_*`` field and every field
ending in ``_at`` is an integer count of nanoseconds since the Unix epoch, UTC.
``ts_event`` is the source's own time of the event (the reference write-ups call
it serverTimestamp); ``ts_recv`` is when quoteflow received it (clientTimestamp).
Prices and sizes are float64 market data; money that moves (orders, fills) is
kept in integer ticks by the exchange and the portfolio, not here.

Records are frozen msgspec structs: cheap to create, to compare and to encode.
Hot paths work on Arrow batches; :func:`to_batch` and :func:`from_batch` convert
a list of records of one type to a :class:`pyarrow.RecordBatch` and back::

    >>> q = Quote("ALPACA", "AAPL", 1, 2, bid_price=189.5, ask_price=189.52)
    >>> from_batch(to_batch([q])) == [q]
    True
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

import msgspec
import numpy as np
import pyarrow as pa

__all__ = [
    "EVENT_TYPES",
    "Alert",
    "Bar",
    "DeadLetter",
    "EnrichedQuote",
    "EnrichedTrade",
    "Event",
    "Interleaved",
    "News",
    "Quote",
    "Signal",
    "Status",
    "Ticker",
    "Trade",
    "TradeCancel",
    "TradeCorrection",
    "arrow_schema",
    "batch_type",
    "conform",
    "event_type",
    "from_batch",
    "to_batch",
]

_TYPE_METADATA_KEY = b"quoteflow.type"


class Event(msgspec.Struct, frozen=True, gc=False):
    """Fields every record carries; subclasses add their own.

    ``TYPE`` names the record type; it is also the default topic name and the
    ``type=`` partition of the lake.
    """

    TYPE: ClassVar[str] = ""

    provider: str
    instrument: str
    ts_event: int
    ts_recv: int


class Quote(Event, frozen=True, gc=False):
    """Top of book: the best bid and ask.

    IG market updates also carry the last trade and the day's statistics (mid
    based); those fields are null for providers that do not send them.
    """

    TYPE: ClassVar[str] = "quotes"

    bid_price: float | None = None
    bid_size: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    bid_exchange: str | None = None
    ask_exchange: str | None = None
    conditions: tuple[str, ...] | None = None
    tape: str | None = None
    last_price: float | None = None
    last_size: float | None = None
    volume: float | None = None
    day_open_mid: float | None = None
    day_net_change_mid: float | None = None
    day_percent_change_mid: float | None = None
    day_high: float | None = None
    day_low: float | None = None
    market_state: str | None = None


class Trade(Event, frozen=True, gc=False):
    """One execution. ``aggressor_side`` is ``"buy"`` or ``"sell"`` where known."""

    TYPE: ClassVar[str] = "trades"

    price: float
    size: float
    trade_id: str | None = None
    exchange: str | None = None
    conditions: tuple[str, ...] | None = None
    tape: str | None = None
    aggressor_side: str | None = None


class TradeCorrection(Event, frozen=True, gc=False):
    """A trade the exchange corrected after reporting it: the original and corrected values.

    ``ts_event`` is the corrected trade's time as the provider gives it (Alpaca:
    the original trade's time). The trade it corrects is the one of this
    instrument with ``original_trade_id`` (and ``exchange``, where given); the
    lake's refined trades and the enrichment carry the corrected values.
    """

    TYPE: ClassVar[str] = "trades.corrections"

    original_price: float
    original_size: float
    corrected_price: float
    corrected_size: float
    original_trade_id: str | None = None
    corrected_trade_id: str | None = None
    original_conditions: tuple[str, ...] | None = None
    corrected_conditions: tuple[str, ...] | None = None
    exchange: str | None = None
    tape: str | None = None


class TradeCancel(Event, frozen=True, gc=False):
    """A trade the exchange withdrew: ``action`` is ``"cancel"`` or ``"error"``.

    Either way the trade did not happen: the lake's refined trades leave it out
    (the raw chunks keep it) and the enrichment takes it out of its candles.
    """

    TYPE: ClassVar[str] = "trades.cancels"

    price: float
    size: float
    action: str
    trade_id: str | None = None
    exchange: str | None = None
    tape: str | None = None


class Ticker(Event, frozen=True, gc=False):
    """A derivatives snapshot.

    Book top, mark/index/settlement prices, implied vols, greeks, funding, open
    interest and 24-hour statistics.

    Implied volatilities are in percent, as Deribit sends them;
    ``price_change_pct_24h`` is in percent too.
    """

    TYPE: ClassVar[str] = "tickers"

    state: str | None = None
    bid_price: float | None = None
    bid_size: float | None = None
    bid_iv: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    ask_iv: float | None = None
    last_price: float | None = None
    mark_price: float | None = None
    mark_iv: float | None = None
    index_price: float | None = None
    min_price: float | None = None
    max_price: float | None = None
    settlement_price: float | None = None
    estimated_delivery_price: float | None = None
    delivery_price: float | None = None
    underlying_index: str | None = None
    underlying_price: float | None = None
    current_funding: float | None = None
    funding_8h: float | None = None
    open_interest: float | None = None
    volume_24h: float | None = None
    volume_usd_24h: float | None = None
    price_change_pct_24h: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    rho: float | None = None
    interest_rate: float | None = None


class Bar(Event, frozen=True, gc=False):
    """An OHLCV bar; ``ts_event`` is the start of the bar.

    ``period`` is a duration such as ``"1m"`` or ``"1d"`` (``"10m/5m"`` for a 10-minute
    window every 5 minutes). ``corrected`` marks a bar the provider re-sent after
    late trades changed it; ``final`` is False for a bar still in progress.
    """

    TYPE: ClassVar[str] = "bars"

    period: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int | None = None
    vwap: float | None = None
    corrected: bool = False
    final: bool = True


class Status(Event, frozen=True, gc=False):
    """A trading status change of an instrument (halt, resumption, ...)."""

    TYPE: ClassVar[str] = "statuses"

    status_code: str
    status_message: str | None = None
    reason_code: str | None = None
    reason_message: str | None = None
    tape: str | None = None


class News(Event, frozen=True, gc=False):
    """A news article; one record per mentioned instrument.

    ``ts_event`` is the time of this version of the article (its update time);
    ``created_at`` is when it was first published. ``instruments`` lists every
    instrument the article mentions.
    """

    TYPE: ClassVar[str] = "news"

    news_id: str
    headline: str
    created_at: int
    instruments: tuple[str, ...] = ()
    summary: str | None = None
    author: str | None = None
    content: str | None = None
    url: str | None = None
    source: str | None = None


class Alert(Event, frozen=True, gc=False):
    """A rule that fired, with the value that fired it."""

    TYPE: ClassVar[str] = "alerts"

    rule: str
    message: str
    value: float | None = None
    threshold: float | None = None


class Signal(Event, frozen=True, gc=False):
    """A trading signal: ``side`` is ``"buy"``, ``"sell"`` or ``"flat"``."""

    TYPE: ClassVar[str] = "signals"

    strategy: str
    side: str
    strength: float | None = None
    price: float | None = None
    reason: str | None = None


class EnrichedQuote(Quote, frozen=True, gc=False):
    """A quote with its enrichment: the move against the previous close, and indicators.

    ``move_price`` is what the move is measured on (the last trade, or the quote
    mid, as configured); ``change_pct`` is its percent change from ``previous_close``;
    ``move`` is ``"Bullish"``, ``"Bearish"`` or ``"Neutral"``, or null with the
    reason in ``move_missing``. ``indicators`` holds the latest closed-bar values,
    by column name (``sma_20``).
    """

    TYPE: ClassVar[str] = "quotes.enriched"

    move_price: float | None = None
    previous_close: float | None = None
    change_pct: float | None = None
    move: str | None = None
    move_missing: str | None = None
    indicators: dict[str, float] | None = None


class EnrichedTrade(Trade, frozen=True, gc=False):
    """A trade with its enrichment; the fields are those of :class:`EnrichedQuote`."""

    TYPE: ClassVar[str] = "trades.enriched"

    move_price: float | None = None
    previous_close: float | None = None
    change_pct: float | None = None
    move: str | None = None
    move_missing: str | None = None
    indicators: dict[str, float] | None = None


class DeadLetter(msgspec.Struct, frozen=True, gc=False):
    """A message that could not be processed, with the reason; never silently dropped.

    ``payload`` is the original message text as received.
    """

    TOPIC: ClassVar[str] = "dead_letters"
    TYPE: ClassVar[str] = TOPIC  # names its Arrow schema, as an event's type does

    provider: str
    stage: str
    ts_recv: int
    field: str
    reason: str
    payload: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        Quote,
        Trade,
        TradeCorrection,
        TradeCancel,
        Ticker,
        Bar,
        Status,
        News,
        Alert,
        Signal,
        EnrichedQuote,
        EnrichedTrade,
    )
}


def event_type(name: str) -> type[Event]:
    """Return the record class for a type name such as ``"quotes"``.

    Raises ``KeyError`` with the known names when ``name`` is not one of them.
    """
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown record type {name!r}; known: {', '.join(EVENT_TYPES)}") from None


def _is_timestamp(name: str) -> bool:
    return name.startswith("ts_") or name.endswith("_at")


def _arrow_type(name: str, annotation: Any) -> tuple[pa.DataType, bool]:
    """Map a field annotation to (Arrow type, nullable)."""
    nullable = False
    if isinstance(annotation, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        (annotation,) = members
    if typing.get_origin(annotation) is tuple:
        return pa.list_(pa.string()), nullable
    if typing.get_origin(annotation) is dict:
        return pa.map_(pa.string(), pa.float64()), nullable
    if annotation is int:
        return (pa.timestamp("ns", tz="UTC") if _is_timestamp(name) else pa.int64()), nullable
    simple = {float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    return simple[annotation], nullable


@cache
def arrow_schema(cls: type[Event] | type[DeadLetter]) -> pa.Schema:
    """Return the Arrow schema of a record class; timestamps become ``timestamp[ns, UTC]``."""
    hints = typing.get_type_hints(cls)
    fields = []
    for name in cls.__struct_fields__:
        arrow_type, nullable = _arrow_type(name, hints[name])
        fields.append(pa.field(name, arrow_type, nullable=nullable))
    return pa.schema(fields, metadata={_TYPE_METADATA_KEY: cls.TYPE.encode()})


def to_batch(records: Sequence[Event], cls: type[Event] | None = None) -> pa.RecordBatch:
    """Convert records of one type to an Arrow record batch.

    ``cls`` is needed only for an empty ``records``. Raises ``TypeError`` when the
    records are of mixed types.
    """
    if cls is None:
        if not records:
            raise TypeError("to_batch needs cls for an empty list of records")
        cls = type(records[0])
    if any(type(r) is not cls for r in records):
        raise TypeError(f"to_batch takes records of one type; expected only {cls.__name__}")
    rows = pa.array(list(map(msgspec.structs.astuple, records)), type=_row_type(cls))
    return pa.RecordBatch.from_struct_array(rows).replace_schema_metadata(
        arrow_schema(cls).metadata
    )


def conform(batch: pa.RecordBatch, cls: type[Event]) -> pa.RecordBatch:
    """Return ``batch`` with the exact schema of ``cls`` (columns cast where types differ).

    Batches read from files may differ from :func:`arrow_schema` in details (a
    timestamp's time zone, nullability, metadata); batches that match come back as they are.
    """
    schema = arrow_schema(cls)
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    columns = [batch.column(f.name).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


@cache
def _row_type(cls: type[Event]) -> pa.StructType:
    """Return the schema as one struct type, which Arrow fills from tuples in C++."""
    return pa.struct(list(arrow_schema(cls)))


def batch_type(schema: pa.Schema) -> type[Event] | None:
    """Return the record class a schema was written from, or None if it carries no type."""
    name = (schema.metadata or {}).get(_TYPE_METADATA_KEY)
    return EVENT_TYPES.get(name.decode()) if name else None


def from_batch(batch: pa.RecordBatch | pa.Table, cls: type[Event] | None = None) -> list[Event]:
    """Convert an Arrow batch or table back to records.

    The record type comes from the schema metadata written by :func:`to_batch`,
    or from ``cls``. Columns are matched by name; extra columns are ignored.
    """
    cls = cls or batch_type(batch.schema)
    if cls is None:
        raise TypeError("from_batch needs cls: the batch schema does not name a record type")
    columns = []
    for field in arrow_schema(cls):
        column = batch.column(field.name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        values = column.to_pylist()
        if pa.types.is_list(field.type):
            values = [None if v is None else tuple(v) for v in values]
        elif pa.types.is_map(field.type):
            values = [None if v is None else dict(v) for v in values]
        columns.append(values)
    return [cls(*row) for row in zip(*columns, strict=True)]


class Interleaved(msgspec.Struct, frozen=True, gc=False):
    """Arrow batches whose records form one stream: ``order[i]`` is the batch of record ``i``.

    Each batch holds records of one type, in the stream's order; a stream of
    quotes and trades as it arrived is two batches and the order between them.
    """

    batches: tuple[pa.RecordBatch, ...]
    order: Any  # numpy int8 array, one entry per record of all batches

    @property
    def num_rows(self) -> int:
        """Return the number of records."""
        return len(self.order)

    def records(self) -> list[Event]:
        """Return the records in the stream's order."""
        per_batch = [iter(from_batch(batch)) for batch in self.batches]
        return [next(per_batch[index]) for index in self.order.tolist()]

    def slice(self, start: int, stop: int) -> Interleaved:
        """Return records ``start`` to ``stop`` (excluded) of the stream."""
        order = self.order[start:stop]
        batches = []
        for index, batch in enumerate(self.batches):
            before = int(np.count_nonzero(self.order[:start] == index))
            batches.append(batch.slice(before, int(np.count_nonzero(order == index))))
        return Interleaved(tuple(batches), order)
