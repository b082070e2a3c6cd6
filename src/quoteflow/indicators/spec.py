"""Indicator specs such as ``"sma:20,macd:12:26:9"``, and applying them to OHLCV columns.

Each item is a name and its numeric parameters separated by ``:``; missing
parameters take their defaults. The output columns are named
``<name>_<params>`` (``sma_20``), with the output's name appended for the
other outputs of indicators that have several (``macd_12_26_9``,
``macd_12_26_9_signal``, ``macd_12_26_9_histogram``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from quoteflow.indicators.base import SPECS, Indicator

__all__ = ["IndicatorSpec", "apply_specs", "parse_specs", "spec_names"]


@cache
def _registered() -> dict[str, type[Indicator]]:
    """Return :data:`SPECS` once every module of the package is imported.

    An indicator class registers itself when its module is imported, so a new
    file of indicators needs nothing else to be found here.
    """
    package = importlib.import_module("quoteflow.indicators")
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        importlib.import_module(info.name)
    return SPECS


def spec_names() -> tuple[str, ...]:
    """Return the indicator names a spec may use."""
    return tuple(_registered())


@dataclass(frozen=True)
class IndicatorSpec:
    """One parsed spec item: the indicator name, its parameters and the output columns."""

    name: str
    params: tuple[float, ...]

    def build(self) -> Indicator:
        """Return a fresh indicator for this spec."""
        return _registered()[self.name].from_spec(*self.params)

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
        classes = _registered()
        if name not in classes:
            known = ", ".join(classes)
            raise ValueError(f"unknown indicator {name!r} in {item!r}; known: {known}")
        defaults = classes[name].spec_defaults
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
