"""What every feed shares: the normalized result, the feed protocol, validation types."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Protocol

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import DeadLetter, Event
from quoteflow.timestamps import MAX_TS_MS

__all__ = [
    "EpochMs",
    "Feed",
    "FiniteFloat",
    "NonNegativeFloat",
    "Normalized",
    "normalize_error_from",
    "reject",
]

_MAX_FLOAT = 1.7976931348623157e308

FiniteFloat = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
"""A float that is neither NaN nor infinite."""

NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
"""A finite float >= 0 (sizes, volumes, open interest)."""

EpochMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TS_MS)]
"""Milliseconds since the epoch whose nanosecond value fits in int64."""


class Normalized(msgspec.Struct, gc=False):
    """What one frame from a provider became: events, and rejected messages."""

    events: list[Event]
    rejects: list[DeadLetter] = msgspec.field(default_factory=list)


class Feed(Protocol):
    """A source of normalized events; the runtime drives it and publishes what it yields."""

    name: str

    def stream(self) -> AsyncIterator[Normalized]:
        """Yield normalized batches until the feed ends or the task is cancelled."""
        ...


_PATH_RE = re.compile(r" - at `\$(?:\[\d+\])?\.?([^`]*)`$")


def normalize_error_from(exc: msgspec.ValidationError | msgspec.DecodeError) -> NormalizeError:
    """Translate a msgspec error into a NormalizeError naming the field.

    msgspec reports the failing location only inside its message
    (``Expected `float`, got `str` - at `$.bp```), so the path is read from there;
    ``$`` stands for the message as a whole.
    """
    text = str(exc)
    match = _PATH_RE.search(text)
    if match is None:
        return NormalizeError("$", text)
    field = match.group(1) or "$"
    return NormalizeError(field, text[: match.start()])


def reject(provider: str, ts_recv_ns: int, error: NormalizeError, payload: str) -> DeadLetter:
    """Build the dead letter for a message the normalizer refused."""
    return DeadLetter(
        provider=provider,
        stage="normalize",
        ts_recv=ts_recv_ns,
        field=error.field,
        reason=error.reason,
        payload=payload,
    )
