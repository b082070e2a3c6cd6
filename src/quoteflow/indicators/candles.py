"""Candles: OHLCV bars from trades (or quote mids), in event time, as an operator.

Windows are tumbling (``every`` unset) or hopping (``every`` shorter than the
period: a 10-minute bar every 5 minutes). Intraday windows are aligned to the
epoch (a 5-minute bar starts at a multiple of 5 minutes, UTC); ``"1d"`` bars are
the exchange's sessions from the calendar, early closes included.

Time is event time. Each instrument has a watermark: the latest ``ts_event``
seen minus ``allowed_lateness_ms``. A window closes, and its bar is emitted
once, when the watermark passes its end. An event whose window has already
closed is late: it is counted and sent to the dead-letter topic, never dropped
silently; so is an event outside every session for ``"1d"`` bars. Call
:meth:`CandleBuilder.flush` to close what is still open (end of a replay, or a
timer for instruments that went quiet).

A window's bar is built from its trades; a window without trades is built from
quote mids (volume 0), so instruments that only quote (FX, CFDs) get bars too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import msgspec
import pandas as pd

from quoteflow.calendars import calendar_by_name
from quoteflow.events import Bar, DeadLetter, Event, Quote, Trade
from quoteflow.formats.reference import to_reference

__all__ = ["CandleBuilder", "CandleState", "Ohlc", "Window", "parse_period_ns"]

_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PERIOD_RE = re.compile(r"([1-9][0-9]*)([smh])")
DAY = "1d"
DEAD_LETTER_TOPIC = DeadLetter.TOPIC


def parse_period_ns(period: str) -> int:
    """Return an intraday period such as ``"5m"`` in nanoseconds; ``ValueError`` otherwise."""
    match = _PERIOD_RE.fullmatch(period)
    if match is None:
        raise ValueError(f"not a period: {period!r}; use Ns, Nm, Nh or 1d")
    return int(match.group(1)) * _NS[match.group(2)]


class Ohlc(msgspec.Struct, gc=False):
    """Open, high, low, close of a stream of prices; open and close follow event time."""

    count: int = 0
    open_ts: int = 0
    close_ts: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0

    def add(self, ts: int, price: float) -> None:
        """Add one price at event time ``ts``, whatever order prices arrive in."""
        if self.count == 0:
            self.open = self.high = self.low = self.close = price
            self.open_ts = self.close_ts = ts
        else:
            if ts < self.open_ts:
                self.open, self.open_ts = price, ts
            if ts >= self.close_ts:
                self.close, self.close_ts = price, ts
            self.high = max(self.high, price)
            self.low = min(self.low, price)
        self.count += 1


class Window(msgspec.Struct, gc=False):
    """One open window of one instrument: trade OHLCV and quote-mid OHLC side by side."""

    end: int
    ts_recv: int = 0
    trades: Ohlc = msgspec.field(default_factory=Ohlc)
    volume: float = 0.0
    notional: float = 0.0
    mids: Ohlc = msgspec.field(default_factory=Ohlc)


class CandleInstrument(msgspec.Struct):
    """One instrument's candles: its provider, newest event time and open windows by start."""

    provider: str
    max_ts: int = -(2**62)
    windows: dict[int, Window] = msgspec.field(default_factory=dict)


class CandleState(msgspec.Struct):
    """Everything a :class:`CandleBuilder` remembers for one partition; snapshots to bytes."""

    instruments: dict[str, CandleInstrument] = msgspec.field(default_factory=dict)
    late: int = 0
    outside_session: int = 0


class CandleBuilder:
    """Build bars of ``period`` from trades and quotes: an operator for the pipeline.

    ``period`` is ``"Ns"``, ``"Nm"``, ``"Nh"`` or ``"1d"`` (exchange sessions of
    ``calendar``); ``every`` makes hopping windows (default: tumbling).
    ``allowed_lateness_ms`` is how far behind the newest event an event may be
    and still count. ``source`` picks trades, quote mids, or ``"auto"`` (trades,
    else mids). With ``emit_updates`` each batch also emits the bars still in
    progress (``final=False``). Bars go to the topic ``bars.<period>``.
    """

    def __init__(
        self,
        period: str = "1m",
        *,
        every: str | None = None,
        allowed_lateness_ms: int = 0,
        source: Literal["auto", "trades", "mids"] = "auto",
        emit_updates: bool = False,
        calendar: str = "XNYS",
    ) -> None:
        if allowed_lateness_ms < 0:
            raise ValueError("allowed_lateness_ms must be >= 0")
        self.sessions = period == DAY
        if self.sessions:
            if every is not None:
                raise ValueError("1d bars are sessions; they cannot hop")
            self.size_ns = self.advance_ns = 0
        else:
            self.size_ns = parse_period_ns(period)
            self.advance_ns = self.size_ns if every is None else parse_period_ns(every)
            if self.advance_ns > self.size_ns or self.size_ns % self.advance_ns:
                raise ValueError("every must divide the period")
        self.label = period if every is None or every == period else f"{period}/{every}"
        self.topic = f"bars.{self.label}"
        self.lateness_ns = allowed_lateness_ms * 1_000_000
        self.source = source
        self.emit_updates = emit_updates
        self.calendar = calendar
        self._session_cache: tuple[int, int] = (0, 0)

    def initial_state(self) -> CandleState:
        """Return the state of a partition that has seen nothing."""
        return CandleState()

    @staticmethod
    def snapshot(state: CandleState) -> bytes:
        """Return the state as bytes."""
        return msgspec.msgpack.encode(state)

    @staticmethod
    def restore(data: bytes) -> CandleState:
        """Return the state from :meth:`snapshot` bytes."""
        return msgspec.msgpack.decode(data, type=CandleState)

    def _session(self, ts: int) -> tuple[int, int] | None:
        start, end = self._session_cache
        if start <= ts < end:
            return start, end
        cal = calendar_by_name(self.calendar)
        minute = pd.Timestamp(ts, unit="ns", tz="UTC").floor("min")
        if not cal.is_open_on_minute(minute, ignore_breaks=True):
            return None
        session = cal.minute_to_session(minute)
        start = int(cal.session_open(session).value)
        end = int(cal.session_close(session).value)
        self._session_cache = (start, end)
        return start, end

    def windows_of(self, ts: int) -> list[tuple[int, int]] | None:
        """Return the windows ``(start, end)`` an event at ``ts`` falls in, latest start first.

        None for an event outside every session (``"1d"`` bars).
        """
        if self.sessions:
            session = self._session(ts)
            return None if session is None else [session]
        last = ts - ts % self.advance_ns
        if self.advance_ns == self.size_ns:
            return [(last, last + self.size_ns)]
        return [
            (start, start + self.size_ns)
            for start in range(last, ts - self.size_ns, -self.advance_ns)
        ]

    @staticmethod
    def _price(event: Event) -> tuple[float, bool] | None:
        if isinstance(event, Trade):
            return event.price, True
        if isinstance(event, Quote) and event.bid_price and event.ask_price:
            return (event.bid_price + event.ask_price) / 2, False
        return None

    def _dead_letter(self, event: Event, reason: str) -> DeadLetter:
        payload = msgspec.json.encode(to_reference(event)).decode()
        return DeadLetter(event.provider, f"candles:{self.label}", event.ts_recv, "ts_event",
                          reason, payload)  # fmt: skip

    def late_letter(self, event: Event, behind_ns: int) -> DeadLetter:
        """Return the dead letter of an event ``behind_ns`` behind the watermark."""
        reason = f"late: {behind_ns / 1e6:.3f} ms behind the watermark (lateness included)"
        return self._dead_letter(event, reason)

    def outside_letter(self, event: Event) -> DeadLetter:
        """Return the dead letter of an event outside every session."""
        return self._dead_letter(event, f"outside the {self.calendar} sessions")

    def process(
        self, batch: Sequence[Event], state: CandleState
    ) -> tuple[list[tuple[str, Bar | DeadLetter]], CandleState]:
        """Add a batch of trades and quotes; return closed bars, dead letters and the state."""
        out: list[tuple[str, Bar | DeadLetter]] = []
        touched: dict[str, set[int]] = {}
        for event in batch:
            windows = self._add_event(event, state, out)
            if windows and self.emit_updates:
                touched.setdefault(event.instrument, set()).update(s for s, _ in windows)
        if self.emit_updates:
            out.extend(self._updates(state, touched))
        return out, state

    def add(self, event: Event, state: CandleState) -> list[tuple[str, Bar | DeadLetter]]:
        """Add one trade or quote; return what it closes: as :meth:`process` of ``(event,)``."""
        out: list[tuple[str, Bar | DeadLetter]] = []
        windows = self._add_event(event, state, out)
        if windows and self.emit_updates:
            out.extend(self._updates(state, {event.instrument: {s for s, _ in windows}}))
        return out

    def _add_event(
        self, event: Event, state: CandleState, out: list[tuple[str, Bar | DeadLetter]]
    ) -> list[tuple[int, int]] | None:
        """Add one event to its windows, appending closed bars and dead letters to ``out``.

        Returns the windows ``(start, end)`` it went into, if any.
        """
        priced = self._price(event)
        if priced is None or (self.source == "trades" and not priced[1]):
            return None
        if self.source == "mids" and priced[1]:
            return None
        inst = state.instruments.get(event.instrument)
        if inst is None:
            inst = state.instruments[event.instrument] = CandleInstrument(event.provider)
        ts = event.ts_event
        windows = self.windows_of(ts)
        if windows is None:
            state.outside_session += 1
            out.append((DEAD_LETTER_TOPIC, self.outside_letter(event)))
            return None
        watermark = inst.max_ts - self.lateness_ns
        if windows[-1][1] <= watermark:  # the earliest window (starts descend) ends first
            state.late += 1
            out.append((DEAD_LETTER_TOPIC, self.late_letter(event, watermark - ts)))
            return None
        for start, end in windows:
            window = inst.windows.get(start)
            if window is None:
                window = inst.windows[start] = Window(end)
            _add(window, ts, event.ts_recv, priced[0], priced[1], event)
        if ts > inst.max_ts:
            inst.max_ts = ts
            if len(inst.windows) > len(windows):  # the windows just added to end after ts
                out.extend(self._close(event.instrument, inst, ts - self.lateness_ns))
        return windows

    def _updates(
        self, state: CandleState, touched: dict[str, set[int]]
    ) -> list[tuple[str, Bar | DeadLetter]]:
        """Return the bars in progress of the ``touched`` windows (starts by instrument)."""
        out: list[tuple[str, Bar | DeadLetter]] = []
        for name, starts in touched.items():
            inst = state.instruments[name]
            out.extend(
                (self.topic, self.bar(name, inst, start, window, final=False))
                for start in sorted(starts)
                if (window := inst.windows.get(start)) is not None
            )
        return out

    def flush(
        self, state: CandleState, until_ns: int | None = None
    ) -> list[tuple[str, Bar | DeadLetter]]:
        """Close the windows ending at or before ``until_ns`` (default: all); return the bars."""
        out: list[tuple[str, Bar | DeadLetter]] = []
        for name, inst in state.instruments.items():
            limit = (
                until_ns
                if until_ns is not None
                else max((w.end for w in inst.windows.values()), default=0)
            )
            out.extend(self._close(name, inst, limit))
            if until_ns is not None and until_ns > inst.max_ts:
                inst.max_ts = until_ns + self.lateness_ns
        return out

    def _close(self, name: str, inst: CandleInstrument, watermark: int) -> list[tuple[str, Bar]]:
        closed = [start for start, w in inst.windows.items() if w.end <= watermark]
        if not closed:
            return []
        closed.sort()
        return [(self.topic, self.bar(name, inst, s, inst.windows.pop(s))) for s in closed]

    def bar(
        self, name: str, inst: CandleInstrument, start: int, w: Window, final: bool = True
    ) -> Bar:
        """Return the bar of window ``w`` (starting at ``start``) of instrument ``name``."""
        if w.trades.count:
            t = w.trades
            vwap = w.notional / w.volume if w.volume else None
            return Bar(inst.provider, name, start, w.ts_recv, self.label, t.open, t.high, t.low,
                       t.close, w.volume, t.count, vwap, final=final)  # fmt: skip
        m = w.mids
        return Bar(inst.provider, name, start, w.ts_recv, self.label, m.open, m.high, m.low,
                   m.close, 0.0, 0, None, final=final)  # fmt: skip


def _add(w: Window, ts: int, ts_recv: int, price: float, is_trade: bool, event: Event) -> None:
    """Add one price to a window: a trade to the trade OHLCV, a quote mid to the mid OHLC."""
    w.ts_recv = max(w.ts_recv, ts_recv)
    if is_trade:
        size = event.size  # type: ignore[attr-defined]
        w.trades.add(ts, price)
        w.volume += size
        w.notional += price * size
    else:
        w.mids.add(ts, price)
