"""Orders as traders send them, and their validation into integer-tick orders.

:func:`validate` checks an :class:`OrderRequest` against the instrument's
reference data and sessions and returns an :class:`AcceptedOrder` (prices in
ticks, the expiry resolved to nanoseconds), or raises :class:`OrderRejectedError`
with a reason code and a message that says what to change. It decides
everything from its arguments, so the same request always gets the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
import numpy as np

from quoteflow.calendars import session_bounds
from quoteflow.events.exchange import AcceptedOrder, OrderType, Side, TimeInForce
from quoteflow.exchange.errors import OrderRejectedError, RejectReason
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.timestamps import datetime_ns

__all__ = [
    "MAX_QUANTITY",
    "OrderRequest",
    "default_time_in_force",
    "price_ticks",
    "session_at",
    "validate",
]


MAX_QUANTITY = 10**12
"""The largest quantity of one order."""


class OrderRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An order as a trader sends it (``POST /v1/orders``).

    ``price`` is decimal (a JSON number or string, read exactly); ``time_in_force``
    defaults to DAY for limit orders and IOC for market orders; ``expire_at`` is
    for GTD orders only. ``client_order_id`` makes retries safe: the same id with
    the same content is the same order.
    """

    client_order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    symbol: str
    side: Side
    quantity: int
    type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    expire_at: datetime | None = None


def session_at(calendar: str, ts_ns: int) -> tuple[int, int] | None:
    """Return the (open, close) in ns of the session of ``calendar`` trading at ``ts_ns``.

    None when the market is closed then.

    >>> session_at("24/7", 1_700_000_000_000_000_000)
    (1699920000000000000, 1700006400000000000)
    """
    opens, closes = session_bounds(calendar)
    index = int(np.searchsorted(opens, ts_ns, side="right")) - 1
    if index < 0 or ts_ns >= closes[index]:
        return None
    return int(opens[index]), int(closes[index])


def default_time_in_force(kind: OrderType) -> TimeInForce:
    """Return the time in force of an order that names none: DAY, or IOC for market orders."""
    return TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.DAY


def _time_in_force(request: OrderRequest) -> TimeInForce:
    market = request.type is OrderType.MARKET
    tif = request.time_in_force or default_time_in_force(request.type)
    if market and tif not in (TimeInForce.IOC, TimeInForce.FOK):
        raise OrderRejectedError(
            RejectReason.BAD_TIME_IN_FORCE, f"market orders are IOC or FOK, not {tif}"
        )
    if tif is TimeInForce.GTD and request.expire_at is None:
        raise OrderRejectedError(RejectReason.EXPIRY_REQUIRED, "GTD orders need expire_at")
    if tif is not TimeInForce.GTD and request.expire_at is not None:
        raise OrderRejectedError(
            RejectReason.EXPIRY_NOT_ALLOWED, f"expire_at is for GTD orders, not {tif}"
        )
    return tif


def price_ticks(
    price: Decimal, instrument: ExchangeInstrument, band: tuple[int, int], reference: int
) -> int:
    """Return ``price`` in ticks of ``instrument``, or raise OrderRejectedError saying why not.

    A price must be a finite positive number (``bad_price``), on the tick grid
    (``off_tick``) and inside the ``band`` of ticks around ``reference``
    (``outside_band``).
    """
    if not price.is_finite() or price <= 0:
        raise OrderRejectedError(RejectReason.BAD_PRICE,
                                 f"price must be a positive number, got {price}")  # fmt: skip
    low, high = band
    if price > instrument.price(high) or price < instrument.price(low):
        raise OrderRejectedError(
            RejectReason.OUTSIDE_BAND,
            f"price {price} is outside the band {instrument.price(low)} to "
            f"{instrument.price(high)} ({instrument.band_pct}% around "
            f"{instrument.price(reference)})",
        )
    try:
        return instrument.ticks(price)
    except ValueError as error:
        raise OrderRejectedError(RejectReason.OFF_TICK, str(error)) from None


def _price(request: OrderRequest, instrument: ExchangeInstrument, reference: int) -> int | None:
    if request.type is OrderType.MARKET:
        if request.price is not None:
            raise OrderRejectedError(RejectReason.PRICE_NOT_ALLOWED, "market orders have no price")
        return None
    if request.price is None:
        raise OrderRejectedError(RejectReason.PRICE_REQUIRED, "limit orders need a price")
    return price_ticks(request.price, instrument, instrument.band(reference), reference)


def validate(
    request: OrderRequest,
    trader: str,
    instruments: Mapping[str, ExchangeInstrument],
    *,
    now_ns: int,
    reference_ticks: int | None = None,
) -> AcceptedOrder:
    """Return ``request`` as an accepted order of ``trader``, or raise OrderRejectedError.

    ``reference_ticks`` centres the price band (default: the instrument's
    reference price; the engine passes the last trade's).
    """
    instrument = instruments.get(request.symbol)
    if instrument is None:
        raise OrderRejectedError(RejectReason.UNKNOWN_SYMBOL, f"no instrument {request.symbol!r}")
    if not 0 < request.quantity <= MAX_QUANTITY:
        raise OrderRejectedError(
            RejectReason.BAD_QUANTITY,
            f"quantity must be > 0 and at most {MAX_QUANTITY:,}, got {request.quantity}",
        )
    if request.quantity % instrument.lot_size:
        raise OrderRejectedError(
            RejectReason.LOT_SIZE,
            f"quantity {request.quantity} is not a multiple of the lot size {instrument.lot_size}",
        )
    tif = _time_in_force(request)
    reference = reference_ticks or instrument.ticks(instrument.reference_price)
    price = _price(request, instrument, reference)
    session = session_at(instrument.calendar, now_ns)
    if session is None:
        raise OrderRejectedError(
            RejectReason.MARKET_CLOSED,
            f"{request.symbol} is not trading now (calendar {instrument.calendar})",
        )
    expire_ns = None
    if tif is TimeInForce.DAY:
        expire_ns = session[1]
    elif request.expire_at is not None:
        expire_ns = datetime_ns(request.expire_at)
        if expire_ns >= 2**63:
            raise OrderRejectedError(RejectReason.EXPIRY_NOT_ALLOWED,
                                     "expire_at is beyond 2262, the end of the clock")  # fmt: skip
        if expire_ns <= now_ns:
            raise OrderRejectedError(
                RejectReason.EXPIRED, f"expire_at {request.expire_at.isoformat()} is in the past"
            )
    return AcceptedOrder(
        request.client_order_id,
        trader,
        request.symbol,
        request.side,
        request.type,
        request.quantity,
        price,
        tif,
        expire_ns,
        now_ns,
    )
