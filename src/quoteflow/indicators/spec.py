"""Indicator specs such as ``"sma:20,macd:12:26:9"``, and applying them to OHLCV columns.

Each item is a name and its numeric parameters separated by ``:``; missing
parameters take their defaults. The output columns are named
``<name>_<params>`` (``sma_20``), with the output's name appended for the
other outputs of indicators that have several (``macd_12_26_9``,
``macd_12_26_9_signal``, ``macd_12_26_9_histogram``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from quoteflow.indicators.base import Indicator
from quoteflow.indicators.moving import EMA, SMA, WMA
from quoteflow.indicators.oscillators import MACD, RSI, Stochastic
from quoteflow.indicators.trend import ADX
from quoteflow.indicators.volatility import ATR, BollingerBands
from quoteflow.indicators.volume import OBV

__all__ = ["SPEC_NAMES", "IndicatorSpec", "apply_specs", "parse_specs"]


def _bbands(period: float = 20, deviations: float = 2.0) -> BollingerBands:
    return BollingerBands(int(period), deviations, deviations)


_FACTORIES: dict[str, tuple[Callable[..., Indicator], tuple[float, ...]]] = {
    "sma": (lambda p=30: SMA(int(p)), (30,)),
    "ema": (lambda p=30: EMA(int(p)), (30,)),
    "wma": (lambda p=30: WMA(int(p)), (30,)),
    "rsi": (lambda p=14: RSI(int(p)), (14,)),
    "macd": (lambda f=12, s=26, g=9: MACD(int(f), int(s), int(g)), (12, 26, 9)),
    "bbands": (_bbands, (20, 2)),
    "atr": (lambda p=14: ATR(int(p)), (14,)),
    "stoch": (lambda k=5, sk=3, sd=3: Stochastic(int(k), int(sk), int(sd)), (5, 3, 3)),
    "adx": (lambda p=14: ADX(int(p)), (14,)),
    "obv": (lambda: OBV(), ()),
}

SPEC_NAMES = tuple(_FACTORIES)
"""The indicator names a spec may use."""


@dataclass(frozen=True)
class IndicatorSpec:
    """One parsed spec item: the indicator name, its parameters and the output columns."""

    name: str
    params: tuple[float, ...]

    def build(self) -> Indicator:
        """Return a fresh indicator for this spec."""
        factory, _ = _FACTORIES[self.name]
        return factory(*self.params)

    def columns(self) -> list[str]:
        """Return the names of the output columns, in output order."""
        text = "_".join(f"{p:g}" for p in self.params)
        base = f"{self.name}_{text}" if text else self.name
        outputs = self.build().outputs
        if len(outputs) == 1:
            return [base]
        return [base if output == self.name else f"{base}_{output}" for output in outputs]


def parse_specs(text: str) -> list[IndicatorSpec]:
    """Parse ``"sma:20,ema:12,macd:12:26:9"``; raises ``ValueError`` naming the bad item."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, *raw = item.lower().split(":")
        if name not in _FACTORIES:
            known = ", ".join(_FACTORIES)
            raise ValueError(f"unknown indicator {name!r} in {item!r}; known: {known}")
        _, defaults = _FACTORIES[name]
        if len(raw) > len(defaults):
            raise ValueError(f"{item!r}: {name} takes at most {len(defaults)} parameters")
        try:
            given = tuple(float(p) for p in raw)
        except ValueError:
            raise ValueError(f"{item!r}: parameters must be numbers") from None
        spec = IndicatorSpec(name, given + defaults[len(given) :])
        try:
            spec.build()
        except ValueError as exc:
            raise ValueError(f"{item!r}: {exc}") from exc
        specs.append(spec)
    if not specs:
        raise ValueError("the spec names no indicator")
    return specs


def apply_specs(
    specs: list[IndicatorSpec], columns: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Compute every spec over OHLCV ``columns`` (open/high/low/close/volume arrays).

    Raises ``KeyError`` naming a column an indicator needs and ``columns`` lacks.
    """
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        indicator = spec.build()
        missing = [name for name in indicator.inputs if name not in columns]
        if missing:
            raise KeyError(f"{spec.name} needs the column(s) {', '.join(missing)}")
        values = indicator.update_batch(*(columns[name] for name in indicator.inputs))
        values = values.reshape(len(values), -1)
        for index, name in enumerate(spec.columns()):
            out[name] = values[:, index]
    return out
