"""What every feed shares: the normalized result, the feed protocol, validation types."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import DeadLetter, Event, Interleaved
from quoteflow.timestamps import MAX_TS_MS

__all__ = [
    "EpochMs",
    "Feed",
    "NonNegativeFloat",
    "Normalized",
    "convert",
    "normalize_error_from",
    "reject",
]

NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0.0)]
"""A float >= 0 (sizes, volumes, open interest).

Plain ``float`` fields need no finiteness constraint: msgspec's JSON decoder
never produces NaN or infinity (``1e999`` is "out of range"), and decoded
Python objects go through :func:`convert`, which refuses them; checking bounds
that cannot fail would only slow down decoding whole frames.
"""

EpochMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TS_MS)]
"""Milliseconds since the epoch whose nanosecond value fits in int64."""


class Normalized(msgspec.Struct, gc=False):
    """What one frame from a provider became: events, and rejected messages.

    A feed that reads columns (replay) gives its events as ``interleaved`` Arrow
    batches, one per record type, instead of ``events``.
    """

    events: list[Event]
    rejects: list[DeadLetter] = msgspec.field(default_factory=list)
    interleaved: Interleaved | None = None

    @property
    def count(self) -> int:
        """Return the number of events."""
        return len(self.events) + (self.interleaved.num_rows if self.interleaved else 0)

    def records(self) -> list[Event]:
        """Return the events as records, in order."""
        if self.interleaved is None:
            return self.events
        return [*self.events, *self.interleaved.records()]


class Feed(Protocol):
    """A source of normalized events; the runtime drives it and publishes what it yields."""

    name: str

    def stream(self) -> AsyncIterator[Normalized]:
        """Yield normalized batches until the feed ends or the task is cancelled."""
        ...


T = TypeVar("T")

_PATH_RE = re.compile(r" - at `\$(?:\[\d+\])?\.?([^`]*)`$")
_MISSING_RE = re.compile(r"Object missing required field `([^`]+)`")


def normalize_error_from(exc: msgspec.ValidationError | msgspec.DecodeError) -> NormalizeError:
    """Translate a msgspec error into a NormalizeError naming the field.

    msgspec reports the failing location only inside its message
    (``Expected `float`, got `str` - at `$.bp```), so the path is read from there;
    ``$`` stands for the message as a whole.
    """
    text = str(exc)
    match = _PATH_RE.search(text)
    path = match.group(1) if match else ""
    reason = text[: match.start()] if match else text
    missing = _MISSING_RE.fullmatch(reason)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
        reason = "missing required field"
    return NormalizeError(path or "$", reason)


def _non_finite_path(value: Any, path: str) -> str | None:
    if value.__class__ is float:
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def convert(message: Any, cls: type[T]) -> T:
    """Validate a decoded message (dicts, lists, scalars) into the raw struct ``cls``.

    Refuses NaN and infinities anywhere in the message, which JSON cannot carry
    but Python objects can. Raises :class:`NormalizeError` naming the field.
    """
    bad = _non_finite_path(message, "")
    if bad is not None:
        raise NormalizeError(bad or "$", "expected a finite number")
    try:
        return msgspec.convert(message, cls)
    except msgspec.ValidationError as exc:
        raise normalize_error_from(exc) from exc


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
