"""What every indicator shares: streaming updates over compiled kernels, snapshots.

An indicator keeps all its state in one float64 array (counters, running sums,
ring buffers) and advances it with a numba-compiled kernel
``kernel(state, *params, *inputs, out)`` that walks the inputs once, O(1) per
value. The streaming form (``update``, ``update_batch``) and the batch form
(the module functions such as :func:`~quoteflow.indicators.sma`) run the same
kernel, so they give the same numbers to the last bit. A snapshot is the
parameters and the state array, as bytes.

Outputs are NaN until the indicator has seen its warm-up (TA-Lib's "lookback").

An indicator class declares everything about itself once: its inputs and
outputs, its kernel, the name and default parameters specs call it by
(``spec_name``, ``spec_defaults``; a class with a ``spec_name`` registers itself
in :data:`SPECS`), and ``bar_step``, its kernel over one bar in the uniform
signature :data:`BAR_STEP` that the stacked form of many instruments calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, Self

import msgspec
import numpy as np
from numba import types

__all__ = ["BAR_STEP", "SPECS", "Indicator"]

_ROW = types.float64[:]
BAR_STEP = types.void(_ROW, _ROW, _ROW, _ROW, _ROW, _ROW, types.float64[:, :])
"""``step(state, params, high, low, close, volume, out)``: an indicator's kernel over one bar."""


class _Snapshot(msgspec.Struct, array_like=True):
    kind: str
    params: tuple[int | float, ...]
    state: bytes


class Indicator:
    """A streaming indicator; subclasses declare inputs, outputs, state size and kernel.

    ``update(*values)`` takes one value per input and returns the latest output
    (a float, or a tuple for several outputs). ``update_batch(*arrays)`` takes one
    array per input and returns the outputs for every value: shape ``(n,)`` for
    one output, ``(n, k)`` for ``k``.
    """

    inputs: ClassVar[tuple[str, ...]] = ("close",)
    outputs: ClassVar[tuple[str, ...]] = ()
    kernel: ClassVar[Callable[..., None]]
    spec_name: ClassVar[str | None] = None
    """The name specs call it by (``"sma"``); None: specs cannot name it."""
    spec_defaults: ClassVar[tuple[float, ...]] = ()
    """The parameters a spec may leave out, in order."""
    bar_step: ClassVar[Callable[..., None] | None] = None
    """The kernel over one bar, compiled with the signature :data:`BAR_STEP` (stacked form)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a class that has a ``spec_name`` in :data:`SPECS`."""
        super().__init_subclass__(**kwargs)
        if cls.spec_name is not None:
            SPECS[cls.spec_name] = cls

    @classmethod
    def from_spec(cls, *params: float) -> Self:
        """Return the indicator of a spec's parameters (whole-number periods by default)."""
        return cls(*(int(p) for p in params))

    def __init__(self, *params: float, state_size: int, lookback: int) -> None:
        """Set up a fresh indicator; subclasses pass their state size and lookback.

        ``lookback`` is how many values come before the first output (TA-Lib's
        term); the state starts as zeros.
        """
        self.params = params
        self.lookback = lookback
        self._kernel_params = tuple(int(p) if float(p).is_integer() else p for p in params)
        self.state = np.zeros(state_size, dtype=np.float64)

    @functools.cached_property
    def _single(self) -> tuple[Callable[[], None], list[np.ndarray], np.ndarray]:
        """Return the kernel bound to one-value input and output cells, and those cells.

        Built on first use: the columnar path keeps thousands of indicators that
        it only advances in bulk.
        """
        inputs = [np.zeros(1) for _ in self.inputs]
        out = np.zeros((1, len(self.outputs)))
        step = functools.partial(type(self).kernel, self.state, *self._kernel_params, *inputs, out)
        return step, inputs, out

    def update_batch(self, *arrays: Any) -> np.ndarray:
        """Advance over one array per input and return the outputs for every value."""
        if len(arrays) != len(self.inputs):
            raise TypeError(f"{type(self).__name__} takes {', '.join(self.inputs)}")
        columns = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
        length = len(columns[0])
        if any(len(c) != length for c in columns):
            raise ValueError("inputs must have the same length")
        out = np.empty((length, len(self.outputs)), dtype=np.float64)
        type(self).kernel(self.state, *self._kernel_params, *columns, out)
        return out[:, 0] if len(self.outputs) == 1 else out

    def update(self, *values: float) -> float | tuple[float, ...]:
        """Advance by one value per input and return the latest output(s)."""
        step, inputs, out = self._single
        if len(values) != len(inputs):
            raise TypeError(f"{type(self).__name__} takes {', '.join(self.inputs)}")
        for index, value in enumerate(values):
            inputs[index][0] = value
        step()
        return float(out[0, 0]) if out.shape[1] == 1 else tuple(out[0].tolist())

    def update_from(self, source: object) -> list[float]:
        """Advance by the inputs read as attributes of ``source`` (a bar); return every output."""
        step, inputs, out = self._single
        for array, name in zip(inputs, self.inputs, strict=True):
            array[0] = getattr(source, name)
        step()
        return out[0].tolist()

    def snapshot(self) -> bytes:
        """Return the parameters and state as bytes; :meth:`restore` takes them back."""
        snap = _Snapshot(type(self).__name__, self.params, self.state.tobytes())
        return msgspec.msgpack.encode(snap)

    @classmethod
    def restore(cls, data: bytes) -> Self:
        """Rebuild an indicator from :meth:`snapshot` bytes.

        Raises ``ValueError`` when the bytes are of another indicator or damaged.
        """
        try:
            snap = msgspec.msgpack.decode(data, type=_Snapshot)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not an indicator snapshot: {exc}") from exc
        if snap.kind != cls.__name__:
            raise ValueError(f"snapshot of {snap.kind}, not {cls.__name__}")
        try:
            indicator = cls(*snap.params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"snapshot parameters are invalid: {exc}") from exc
        state = np.frombuffer(snap.state, dtype=np.float64)
        if state.shape != indicator.state.shape:
            raise ValueError("snapshot state has the wrong size for its parameters")
        indicator.state[:] = state
        return indicator

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(str, self.params))})"


SPECS: dict[str, type[Indicator]] = {}
"""Every indicator class with a ``spec_name``, by that name (filled as the classes are defined)."""
