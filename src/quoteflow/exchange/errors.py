"""What the exchange raises: refused orders and requests, unknown orders, a failed log."""

from __future__ import annotations

from enum import StrEnum

from quoteflow.errors import ExchangeError

__all__ = [
    "ExchangeRequestError",
    "LogWriteError",
    "OrderRejectedError",
    "RejectReason",
    "UnknownOrderError",
]


class RejectReason(StrEnum):
    """Why an order was refused (the ``reason`` of a rejection)."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_QUANTITY = "bad_quantity"
    LOT_SIZE = "lot_size"
    PRICE_REQUIRED = "price_required"
    PRICE_NOT_ALLOWED = "price_not_allowed"
    OFF_TICK = "off_tick"
    OUTSIDE_BAND = "outside_band"
    BAD_TIME_IN_FORCE = "bad_time_in_force"
    EXPIRY_REQUIRED = "expiry_required"
    EXPIRY_NOT_ALLOWED = "expiry_not_allowed"
    EXPIRED = "expired"
    MARKET_CLOSED = "market_closed"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    BAD_PRICE = "bad_price"
    NO_CHANGE = "no_change"


class OrderRejectedError(ExchangeError):
    """An order refused, with its reason code; nothing of it was applied."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownOrderError(ExchangeError, LookupError):
    """No such order, or not the trader's own."""


class LogWriteError(ExchangeError):
    """The command log could not be flushed to disk; the exchange takes no more orders."""


class ExchangeRequestError(ExchangeError):
    """The exchange refused a request: ``status``, ``reason`` code and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message} (HTTP {status})")
        self.status = status
        self.reason = reason
