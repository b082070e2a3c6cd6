"""What the enrichment job remembers, and what its engine needs of the job.

:class:`EnrichState` is one partition's state: candles, each instrument's
indicators, alert memory and last prices, the trade ledger for amendments.
:class:`EnrichJob` is the part of :class:`~quoteflow.enrich.job.Enricher` that
the compiled engine (:mod:`~quoteflow.enrich.columnar`) reads: its settings,
candle builder, indicators, alert rules and previous closes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import msgspec
import pyarrow as pa

from quoteflow.enrich.alerts import AlertRules, AlertState
from quoteflow.enrich.amendments import TradeLedger
from quoteflow.enrich.config import EnrichSettings
from quoteflow.enrich.previous_close import PreviousCloses
from quoteflow.events import Bar, DeadLetter, Event
from quoteflow.indicators._stacked import StackedIndicators
from quoteflow.indicators.base import Indicator
from quoteflow.indicators.candles import CandleBuilder, CandleState

__all__ = [
    "ColumnarCopy",
    "EnrichJob",
    "EnrichState",
    "InstrumentSnapshot",
    "InstrumentState",
    "Output",
    "StateSnapshot",
]

Output = tuple[str, Event | DeadLetter]


@dataclass
class InstrumentState:
    """One instrument's indicators, alert memory, latest indicator values and last prices."""

    indicators: list[Indicator]
    alerts: AlertState
    values: dict[str, float] = field(default_factory=dict)
    last_trade: float | None = None
    last_mid: float | None = None


@dataclass
class EnrichState:
    """What the job remembers for one partition; ``missing`` counts null moves by reason.

    ``ledger`` keeps the recent trades for corrections and cancels; ``amended``
    counts what became of those (see :mod:`quoteflow.enrich.amendments`).
    ``arrays`` holds the columnar path's copy of the per-instrument state while
    Arrow batches keep coming; :meth:`sync` writes it back before anything else
    reads the state.
    """

    candles: CandleState = field(default_factory=CandleState)
    instruments: dict[str, InstrumentState] = field(default_factory=dict)
    missing: Counter[str] = field(default_factory=Counter)
    arrays: ColumnarCopy | None = None
    ledger: TradeLedger | None = None
    amended: Counter[str] = field(default_factory=Counter)

    def sync(self, keep: bool = False) -> None:
        """Write the columnar arrays back; drop them unless ``keep`` (read-only use follows)."""
        if self.arrays is not None:
            self.arrays.scatter(self)
            if not keep:
                self.arrays = None


class InstrumentSnapshot(msgspec.Struct, array_like=True):
    """An instrument's state as :meth:`Enricher.snapshot` writes it."""

    indicators: list[bytes]
    alerts: bytes
    values: dict[str, float]
    last_trade: float | None
    last_mid: float | None


class StateSnapshot(msgspec.Struct, array_like=True):
    """A partition's state as :meth:`Enricher.snapshot` writes it."""

    candles: CandleState
    instruments: dict[str, InstrumentSnapshot]
    missing: dict[str, int]
    ledger: bytes | None = None
    amended: dict[str, int] = {}


class ColumnarCopy(Protocol):
    """The engine's copy of the per-instrument state, kept while Arrow batches keep coming."""

    def scatter(self, state: EnrichState) -> None:
        """Write the copy back into ``state``."""
        ...


class EnrichJob(Protocol):
    """What the compiled engine reads of the enrichment job."""

    settings: EnrichSettings
    previous_closes: PreviousCloses
    candles: CandleBuilder
    stacked: StackedIndicators
    rules: AlertRules
    columns: list[str]

    def instrument_state(self, state: EnrichState, name: str) -> InstrumentState:
        """Return the state of instrument ``name``, created on first use."""
        ...

    def bar_outputs(self, alerts: AlertState, bar: Bar) -> list[Output]:
        """Return a closed bar and the bar alerts it fires."""
        ...

    def remember_trades(self, state: EnrichState, trades: pa.RecordBatch) -> list[Output]:
        """Keep trades that went into the candles; return the corrected bars amendments give."""
        ...
