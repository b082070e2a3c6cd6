"""The reference record format: camelCase fields and millisecond timestamps.

This is the external shape of the records in the BidFlow write-ups (see
``shared/vectors``), used for JSON on the wire and for CSV exports. Events are
turned into it at the edge, never earlier::

    >>> from quoteflow.events import Quote
    >>> to_reference(Quote("IG", "CS.D.BITCOIN.CFE.IP", 2_000_000, 3_000_000, bid_price=1.5))
    ... # doctest: +ELLIPSIS
    {'serverTimestamp': 2, 'clientTimestamp': 3, 'bidPrice': 1.5, 'askPrice': None, ...}

Each record type has a default layout (every field, camelCase, in declaration
order); providers whose reference write-up fixed another shape have their own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.events import Event, Quote, Ticker, batch_type, from_batch
from quoteflow.formats import _json_columns as jc
from quoteflow.timestamps import NS_PER_MS

__all__ = [
    "JsonLinesEncoder",
    "keyed_reference",
    "reference_fields",
    "reference_json",
    "to_reference",
]

Layout = tuple[tuple[str, str, Callable[[Any], Any] | None], ...]
"""(reference name, event field, conversion or None) for each output field, in order."""


def _ms(value: int | None) -> int | None:
    return None if value is None else value // NS_PER_MS


def _whole_number(value: float | None) -> float | int | None:
    """Write integral volumes as integers, as the IG reference records do."""
    if value is None or not value.is_integer():
        return value
    return int(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_TIMESTAMP_NAMES = {"ts_event": "serverTimestamp", "ts_recv": "clientTimestamp"}
_KEY_FIELDS = {"provider", "instrument"}


@cache
def _default_layout(cls: type[Event]) -> Layout:
    layout = []
    for name in cls.__struct_fields__:
        if name in _KEY_FIELDS:
            continue
        if name in _TIMESTAMP_NAMES:
            layout.append((_TIMESTAMP_NAMES[name], name, _ms))
        elif name.endswith("_at"):
            layout.append((_camel(name), name, _ms))
        else:
            layout.append((_camel(name), name, None))
    return tuple(layout)


_TICKER_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("indexPrice", "index_price", None),
    ("orderBookState", "state", None),
    ("markPrice", "mark_price", None),
    ("markImpliedVolatility", "mark_iv", None),
    ("bidPrice", "bid_price", None),
    ("bidAmount", "bid_size", None),
    ("bidImpliedVolatility", "bid_iv", None),
    ("askPrice", "ask_price", None),
    ("askAmount", "ask_size", None),
    ("askImpliedVolatility", "ask_iv", None),
    ("lastTradedPrice", "last_price", None),
    ("minPrice", "min_price", None),
    ("maxPrice", "max_price", None),
    ("settlementPrice", "settlement_price", None),
    ("estimatedDeliveryPrice", "estimated_delivery_price", None),
    ("deliveryPrice", "delivery_price", None),
    ("underlyingIndex", "underlying_index", None),
    ("underlyingPrice", "underlying_price", None),
    ("currentFunding", "current_funding", None),
    ("funding8h", "funding_8h", None),
    ("openInterest", "open_interest", None),
    ("volume24h", "volume_24h", None),
    ("volumeUsd24h", "volume_usd_24h", None),
    ("pricePercentChange24h", "price_change_pct_24h", None),
    ("high24h", "high_24h", None),
    ("low24h", "low_24h", None),
    ("delta", "delta", None),
    ("gamma", "gamma", None),
    ("vega", "vega", None),
    ("theta", "theta", None),
    ("rho", "rho", None),
    ("interestRate", "interest_rate", None),
)

_IG_QUOTE_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("bidPrice", "bid_price", None),
    ("askPrice", "ask_price", None),
    ("lastTradedPrice", "last_price", None),
    ("lastTradedVolume", "last_size", _whole_number),
    ("incrementalTradingVolume", "volume", _whole_number),
    ("dayOpenMid", "day_open_mid", None),
    ("dayNetChangeMid", "day_net_change_mid", None),
    ("dayPercentChangeMid", "day_percent_change_mid", None),
    ("dayHigh", "day_high", None),
    ("dayLow", "day_low", None),
)

_QUOTE_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("bidPrice", "bid_price", None),
    ("bidAmount", "bid_size", None),
    ("askPrice", "ask_price", None),
    ("askAmount", "ask_size", None),
    ("bidExchange", "bid_exchange", None),
    ("askExchange", "ask_exchange", None),
    ("conditions", "conditions", None),
    ("tape", "tape", None),
)

_PROVIDER_LAYOUTS: dict[tuple[type[Event], str], Layout] = {
    (Quote, "IG"): _IG_QUOTE_LAYOUT,
}
_TYPE_LAYOUTS: dict[type[Event], Layout] = {Quote: _QUOTE_LAYOUT, Ticker: _TICKER_LAYOUT}


@cache
def _layout_for(cls: type[Event], provider: str) -> Layout:
    """Return the layout of ``cls`` from ``provider``.

    A subclass of a type with a fixed layout (an enriched quote) gets that layout
    followed by its own fields, named the default way.
    """
    for base in cls.__mro__:
        layout = _PROVIDER_LAYOUTS.get((base, provider)) or _TYPE_LAYOUTS.get(base)
        if layout is not None:
            if base is cls:
                return layout
            own = set(cls.__struct_fields__) - set(base.__struct_fields__)
            return layout + tuple(item for item in _default_layout(cls) if item[1] in own)
    return _default_layout(cls)


def reference_fields(cls: type[Event], provider: str) -> list[str]:
    """Return the reference field names, in order, for records of ``cls`` from ``provider``."""
    return [name for name, _, _ in _layout_for(cls, provider)]


def _listed(value: tuple[Any, ...] | None) -> list[Any] | None:
    return None if value is None else list(value)


def _holds_tuples(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_holds_tuples(member) for member in kind.types)
    return isinstance(kind, (msgspec.inspect.VarTupleType, msgspec.inspect.TupleType))


class _Plan(NamedTuple):
    """How to read a record type's reference view from ``msgspec.structs.astuple``."""

    names: tuple[str, ...]
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # the layout's fields, in its order
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...]  # (place in the view, conversion)
    view: type[msgspec.Struct]  # the view as a struct: JSON without building a dict
    keyed_view: type[msgspec.Struct]  # the same, preceded by provider, type and instrument

    def values(self, event: Event) -> list[Any]:
        """Return the view's values of ``event``, in order."""
        values = list(self.pick(msgspec.structs.astuple(event)))
        for index, convert in self.conversions:
            values[index] = convert(values[index])
        return values


def _struct(cls: type[Event], names: tuple[str, ...]) -> type[msgspec.Struct]:
    """Return a struct type whose JSON has the keys ``names``, in order."""
    fields = [f"f{index}" for index in range(len(names))]
    return msgspec.defstruct(f"{cls.__name__}Reference", fields,
                             rename=dict(zip(fields, names, strict=True)))  # fmt: skip


@cache
def _plan(cls: type[Event], provider: str) -> _Plan:
    """Return the plan of ``cls`` from ``provider``; tuple fields become lists, as in JSON."""
    layout = _layout_for(cls, provider)
    tuples = {f.name for f in msgspec.inspect.type_info(cls).fields if _holds_tuples(f.type)}
    place = {field: index for index, field in enumerate(cls.__struct_fields__)}
    conversions = []
    for index, (_, field, convert) in enumerate(layout):
        if convert is None and field in tuples:
            convert = _listed
        if convert is not None:
            conversions.append((index, convert))
    # every layout has both timestamps, so itemgetter always returns a tuple
    pick = itemgetter(*(place[field] for _, field, _ in layout))
    names = tuple(name for name, _, _ in layout)
    view, keyed_view = _struct(cls, names), _struct(cls, ("provider", "type", "instrument", *names))
    return _Plan(names, pick, tuple(conversions), view, keyed_view)


def to_reference(event: Event) -> dict[str, Any]:
    """Return the reference view of one record: camelCase names, millisecond timestamps.

    Provider and instrument are not part of the record: the reference keeps them
    in the file or topic name.
    """
    plan = _plan(type(event), event.provider)
    return dict(zip(plan.names, plan.values(event), strict=True))


_json = msgspec.json.Encoder()


def keyed_reference(event: Event) -> dict[str, Any]:
    """Return the reference record preceded by its provider, type and instrument."""
    return {
        "provider": event.provider,
        "type": event.TYPE,
        "instrument": event.instrument,
        **to_reference(event),
    }


def reference_json(event: Event, *, keyed: bool = False) -> bytes:
    """Return the reference view of one record as JSON, the bytes of encoding :func:`to_reference`.

    With ``keyed``, provider, type and instrument come first, as in
    :func:`keyed_reference`. It builds no dict, which counts where every record
    goes out as JSON (the Kafka customer topics, the gateway).
    """
    plan = _plan(type(event), event.provider)
    if keyed:
        view = plan.keyed_view(event.provider, event.TYPE, event.instrument, *plan.values(event))
    else:
        view = plan.view(*plan.values(event))
    return _json.encode(view)


class JsonLinesEncoder:
    """Encode Arrow batches of records as keyed reference JSON lines, from the columns.

    Each line is the bytes :func:`reference_json` gives for the row's record
    with ``keyed=True``, followed by a newline. The lines are written by compiled
    loops over the columns (:mod:`quoteflow.formats._json_columns`), so no Python object
    is made per record; batches smaller than ``small`` rows, where the set-up
    costs more, go through :func:`reference_json`, as do the rare batches with
    an integral IG volume of 2**53 or more.
    """

    def __init__(self, small: int = 64) -> None:
        self.small = small

    def lines(self, batch: pa.RecordBatch) -> bytes:
        """Return the batch's records as JSON lines, in row order."""
        cls = batch_type(batch.schema)
        if cls is None:
            raise TypeError("the batch schema does not name a record type")
        if batch.num_rows >= self.small:
            text = _columnar_lines(cls, batch)
            if text is not None:
                return text
        return b"".join(reference_json(r, keyed=True) + b"\n" for r in from_batch(batch, cls))


def _columnar_lines(cls: type[Event], batch: pa.RecordBatch) -> bytes | None:
    """Return the batch's keyed reference lines, or None where a value needs Python."""
    provider = batch.column("provider")
    providers = pc.unique(provider)
    layouts: list[Layout] = []
    layout_of_provider = []
    for name in providers.to_pylist():
        layout = _layout_for(cls, name)
        if layout not in layouts:
            layouts.append(layout)
        layout_of_provider.append(layouts.index(layout))
    row_layout = np.array(layout_of_provider, dtype=np.int64)[
        pc.index_in(provider, providers).to_numpy()
    ]
    columns: dict[tuple[str, Callable[[Any], Any] | None], int] = {}
    rendered: list[jc.Rendered] = []
    plans = []
    pieces: list[bytes] = []
    type_piece = b',"type":' + msgspec.json.encode(cls.TYPE) + b',"instrument":'
    head = [(b'{"provider":', "provider", None), (type_piece, "instrument", None)]
    for layout in layouts:
        plan = []
        pending = b""  # literal text up to the next value that varies
        own = [(b"," + msgspec.json.encode(name) + b":", field, convert)
               for name, field, convert in layout]  # fmt: skip
        for piece, field, convert in [*head, *own]:
            pending += piece
            if batch.column(field).null_count == batch.num_rows:
                pending += b"null"
                continue
            key = (field, convert)
            if key not in columns:
                values = _rendered(batch.column(field), convert)
                if values is None:
                    return None
                columns[key] = len(rendered)
                rendered.append(values)
            plan.append((len(pieces), columns[key]))
            pieces.append(pending)
            pending = b""
        plan.append((len(pieces), -1))
        pieces.append(pending + b"}\n")
        plans.append(plan)
    return jc.lines(batch.num_rows, rendered, pieces, plans, row_layout)


def _rendered(column: pa.Array, convert: Callable[[Any], Any] | None) -> jc.Rendered | None:
    """Render a column as its reference JSON values (None: a value needs Python)."""
    kind = column.type
    if convert is _ms:
        return jc.render_ints(column, divisor=NS_PER_MS)
    if convert is _whole_number:
        return jc.render_floats(column, whole=True)
    if pa.types.is_floating(kind):
        return jc.render_floats(column)
    if pa.types.is_integer(kind) or pa.types.is_timestamp(kind):
        return jc.render_ints(column)
    if pa.types.is_boolean(kind):
        return jc.render_bools(column)
    if pa.types.is_string(kind):
        return jc.render_strings(column)
    if pa.types.is_map(kind):
        return jc.render_maps(column)
    if pa.types.is_list(kind):
        return jc.render_lists(column)
    raise TypeError(f"no JSON rendering for Arrow type {kind}")
