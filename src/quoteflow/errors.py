"""The exception hierarchy of quoteflow.

Every error quoteflow raises on purpose derives from :class:`QuoteflowError`, so
callers can catch everything with one clause, or one branch with its own class::

    QuoteflowError
    ├── ConfigError                 bad or unsafe configuration
    ├── FeedError                   anything between a provider and the events
    │   ├── FeedConnectionError     cannot reach or stay connected to a provider
    │   ├── AuthenticationError     the provider refused the credentials (never retried)
    │   ├── SubscriptionError       the provider refused or never confirmed a subscription
    │   └── NormalizeError          one provider message cannot become events
    ├── RecordFileError             a record file (CSV, Parquet) cannot be read or written
    ├── BusError                    topics: unknown topic, closed bus
    ├── LakeError                   the data lake
    ├── QueryError                  SQL over the lake (DuckDB's errors, translated)
    ├── GatewayError                delivery to subscribers (quoteflow.gateway.errors)
    │   ├── ResumeGapError          a resume from records no longer kept
    │   └── CloseConnectionError    internal: end a subscriber's connection with a code
    └── ExchangeError               the electronic exchange (quoteflow.exchange.errors)
        ├── OrderRejectedError      an order refused, with a reason code
        ├── UnknownOrderError       no such order, or not the trader's own
        ├── LogWriteError           the command log cannot be flushed: no more orders
        └── ExchangeRequestError    the exchange's API refused a client's request

A subpackage's own errors live in its ``errors.py``, under these branches.

Errors from the libraries underneath are translated at the boundary and chained
with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BusError",
    "ConfigError",
    "ExchangeError",
    "FeedConnectionError",
    "FeedError",
    "GatewayError",
    "LakeError",
    "NormalizeError",
    "QueryError",
    "QuoteflowError",
    "RecordFileError",
    "SubscriptionError",
]


class QuoteflowError(Exception):
    """Root of every error quoteflow raises on purpose."""


class ConfigError(QuoteflowError):
    """The configuration is invalid or unsafe.

    Example message: ``config file quoteflow.toml holds secrets but is readable by others``.
    """


class FeedError(QuoteflowError):
    """A feed failed between the provider and the events."""


class FeedConnectionError(FeedError):
    """A provider cannot be reached, or the connection was lost for good."""


class AuthenticationError(FeedError):
    """The provider refused the credentials or the session expired for good; not retried.

    Example message: ``alpaca: authentication failed (402 auth failed); check
    QUOTEFLOW_ALPACA__KEY_ID and QUOTEFLOW_ALPACA__SECRET_KEY``.
    """


class SubscriptionError(FeedError):
    """The provider refused a subscription or never confirmed it."""


class NormalizeError(FeedError):
    """One provider message cannot be turned into events.

    ``field`` names the offending field (``"$"`` for the message as a whole) and
    ``reason`` says what is wrong with it. Example message:
    ``bs: expected a number >= 0, got -5``.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RecordFileError(QuoteflowError):
    """A file of records cannot be read or written (unknown columns, bad format)."""


class BusError(QuoteflowError):
    """The message bus refused an operation (for example, the bus is closed)."""


class LakeError(QuoteflowError):
    """The data lake cannot store or find data."""


class QueryError(QuoteflowError):
    """A SQL query over the lake failed."""


class GatewayError(QuoteflowError):
    """The gateway refused or ended something (see :mod:`quoteflow.gateway.errors`)."""


class ExchangeError(QuoteflowError):
    """The electronic exchange failed an operation."""
