"""The compiled per-event loop of the columnar enrichment path.

One call walks a batch of quotes, trades or both in offset order and does, per event,
what :meth:`quoteflow.enrich.Enricher.process` does in Python: add the price to
its candle windows (or mark the event late / outside the sessions), close the
windows the watermark has passed, remember the last trade and mid, measure the
move against the previous close, and evaluate the price alert rules. Closing a
bar only copies the window out: indicators and bar alerts run in Python, once
per bar, and each event gets the number of the indicator "version" it sees.

State is passed in as per-instrument arrays and updated in place. Open windows
live in ``slots`` ring slots per instrument; the slot of a window is its index
(start // advance, or the session number) modulo ``slots``. An event that moves
the watermark closes the windows it passed before adding itself (the reference
adds first; the outcome is the same, since an event never lands in a window
its own watermark closes), so the slots only ever hold windows within
``size + lateness`` of the newest event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np

__all__ = ["WINDOW_FLOATS", "WINDOW_INTS", "compiled_loop", "span"]

# window integers: open flag, start, end, ts_recv, trade count, trade open ts,
# trade close ts, mid count, mid open ts, mid close ts
WINDOW_INTS = 10
# window floats: trade open, high, low, close, volume, notional; mid open, high, low, close
WINDOW_FLOATS = 10

NS_PER_HOUR = 3_600_000_000_000

FLAG_LATE = 1
FLAG_OUTSIDE = 2

MISSING_PRICE = 1
MISSING_CLOSES = 2
MISSING_NOT_POSITIVE = 3
MISSING_DAY = 4  # + the session slot

MOVE_BULLISH = 1
MOVE_BEARISH = 2
MOVE_NEUTRAL = 3
ON_THRESHOLD_PCT = 1e-9
"""A change this close to the threshold (in percentage points) counts as on it.

Most decimal prices have no exact float64 value, so a price exactly on the
threshold (close 100, trade 102.5, threshold 2.5) may compute a hair below it.
"""

ALERT_ABOVE_LEVEL = 1
ALERT_BELOW_LEVEL = 2
ALERT_SESSION_HIGH = 3
ALERT_SESSION_LOW = 4
ALERT_MOVE_CHANGE = 5


@numba.njit(cache=True)
def span(values):
    """Return the smallest and largest of a non-empty integer array, in one pass.

    NumPy's ``min()`` and ``max()`` take two passes and, for int64, three to
    four times as long as this loop.
    """
    low = high = values[0]
    for i in range(np.uint64(1), np.uint64(values.shape[0])):
        value = values[i]
        low = min(low, value)
        high = max(high, value)
    return low, high


@functools.cache
def compiled_loop(
    is_trade: bool, price_from_trades: bool, intraday: bool, price_alerts: bool, mixed: bool
) -> Callable[..., int]:
    """Return the per-event loop compiled for one kind of batch and job.

    The five flags are constants to the compiler, so each combination gets its
    own machine code with the other branches left out: a batch of quotes has
    no trade branch, a job without price alerts no alert code. In the
    enrichment benchmark that took the loop from 21.5 to 16.3 ns a quote; the
    same branches tested at run time cost that much although they never
    mispredict. ``is_trade``: the batch holds trades (else quotes); ``mixed``:
    it holds both, and ``kinds`` says which each event is (1 a trade, 0 a quote);
    ``price_from_trades``: moves are priced by the last trade (else the mid);
    ``intraday``: candle windows are fixed spans (else exchange sessions);
    ``price_alerts``: some instrument has a price level, or session extremes or
    move changes are on. Each combination compiles once, on first use (about
    2-3 s), and is cached on disk like the other kernels.
    """

    @numba.njit(cache=True)
    def enrich_batch(
        first, kinds, code, ts, recv, price, size, size_ns, advance_ns, hops, lateness_ns,
        session_index, session_open, session_close,
        hour_base, hour_slot, slot_ordinal, closes, has_closes, threshold,
        level_offsets, levels, session_extremes, move_changes,
        last_trade, last_mid, max_ts, version, alert_price, alert_session, alert_high, alert_low,
        alert_move, windows_i, windows_f, counters, bars_i, bars_f, alerts_i, alerts_f,
        out_version, out_flag, out_behind, out_price, out_previous, out_change, out_move,
        out_missing,
    ):  # fmt: skip
        """Enrich events from index ``first`` on, in place; return the index it stopped at.

        ``price`` and ``size`` are the trades' prices and sizes, or for quotes the
        bid and ask prices (0 where missing), whose mid is the price. ``kinds`` is
        read only when ``mixed``.

        Closed bars are appended to ``bars_i`` (event index, instrument code, window
        ints) and ``bars_f`` (window floats), price alerts to ``alerts_i`` (event
        index, rule, previous move) and ``alerts_f`` (value, threshold).
        ``counters`` is [late, outside sessions, next version, slot collisions,
        bars, alerts, events whose move is known]. The loop stops early, before an
        event, when the bar or alert buffers might overflow: grow them and call
        again from the returned index.
        The buffers are passed in rather than grown here, because reassigning an
        array inside the loop costs reference counting on every event.
        """
        n = code.shape[0]
        slots = windows_i.shape[1]
        most_levels = 0
        for r in range(level_offsets.shape[0] - 1):
            most_levels = max(most_levels, level_offsets[r + 1] - level_offsets[r])
        n_bars = counters[4]
        n_alerts = counters[5]
        n_known = counters[6]
        closing = np.empty(slots, dtype=np.int64)
        m = last_trade.shape[0]
        cached_start = np.full(m, np.iinfo(np.int64).max - advance_ns, dtype=np.int64)
        cached_index = np.zeros(m, dtype=np.int64)
        cached_slot = np.zeros(m, dtype=np.int64)
        next_end = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)  # earliest open window end
        for r in range(m):
            for s in range(slots):
                if windows_i[r, s, 0] == 1:
                    next_end[r] = min(next_end[r], windows_i[r, s, 2])
        hour_start = np.iinfo(np.int64).max - NS_PER_HOUR  # the hour of the last event's session
        hour_session = 0
        bars_room = bars_i.shape[0] - slots  # an event closes at most ``slots`` bars
        alerts_room = alerts_i.shape[0] - most_levels - 2  # and fires at most this many alerts
        full = n_bars > bars_room or n_alerts > alerts_room  # kept up to date where they grow
        for i in range(np.uint64(first), np.uint64(n)):  # unsigned: see the note on ``c`` below
            if full:
                counters[4] = n_bars
                counters[5] = n_alerts
                counters[6] = n_known
                return i
            c = np.uint64(code[i])  # unsigned indices spare numba's negative-index wrapping
            t = ts[i]
            p = price[i]
            trade = kinds[i] == 1 if mixed else is_trade
            ohlc_i, ohlc_f = (4, 0) if trade else (7, 6)  # where the trade or mid OHLC is
            if not trade:  # price and size hold the bid and ask, 0 where missing
                ask = size[i]
                p = (p + ask) / 2 if p != 0 and ask != 0 else np.nan
            out_flag[i] = 0
            if p == p:
                if intraday:
                    # integer division is the dearest step here: reuse the last window's index
                    if cached_start[c] <= t < cached_start[c] + advance_ns:
                        last_index = cached_index[c]
                        last_slot = cached_slot[c]
                    else:
                        last_index = t // advance_ns
                        last_slot = last_index % slots
                        cached_index[c] = last_index
                        cached_slot[c] = last_slot
                        cached_start[c] = last_index * advance_ns
                    first_index = last_index - (hops - 1)
                    min_end = first_index * advance_ns + size_ns
                else:
                    last_index = session_index[i]
                    last_slot = last_index % slots
                    first_index = last_index
                    min_end = session_close[last_index] if last_index >= 0 else 0
                watermark = max_ts[c] - lateness_ns
                if not intraday and last_index < 0:
                    out_flag[i] = FLAG_OUTSIDE
                    counters[1] += 1
                elif min_end <= watermark:
                    out_flag[i] = FLAG_LATE
                    out_behind[i] = watermark - t
                    counters[0] += 1
                else:
                    if t > max_ts[c]:
                        max_ts[c] = t
                        limit = t - lateness_ns
                        if next_end[c] <= limit:
                            n_closing = 0
                            next_end[c] = np.iinfo(np.int64).max
                            for s in range(slots):
                                if windows_i[c, s, 0] == 1 and windows_i[c, s, 2] <= limit:
                                    j = n_closing
                                    start = windows_i[c, s, 1]
                                    while j > 0 and windows_i[c, closing[j - 1], 1] > start:
                                        closing[j] = closing[j - 1]
                                        j -= 1
                                    closing[j] = s
                                    n_closing += 1
                                elif windows_i[c, s, 0] == 1:
                                    next_end[c] = min(next_end[c], windows_i[c, s, 2])
                            for k in range(n_closing):
                                s = closing[k]
                                bars_i[n_bars, 0] = i
                                bars_i[n_bars, 1] = c
                                bars_i[n_bars, 2:] = windows_i[c, s, :]
                                bars_f[n_bars, :] = windows_f[c, s, :]
                                n_bars += 1
                                windows_i[c, s, 0] = 0
                                version[c] = counters[2]
                                counters[2] += 1
                            full = full or n_bars > bars_room
                    for index in range(last_index, first_index - 1, -1):
                        if intraday:
                            start = index * advance_ns
                            end = start + size_ns
                        else:
                            start = session_open[index]
                            end = session_close[index]
                        s = last_slot - (last_index - index)
                        if s < 0:
                            s += slots
                        s = np.uint64(s)
                        if windows_i[c, s, 0] == 0:
                            windows_i[c, s, :] = 0
                            windows_i[c, s, 0] = 1
                            windows_i[c, s, 1] = start
                            windows_i[c, s, 2] = end
                            windows_f[c, s, :] = 0.0
                            next_end[c] = min(next_end[c], end)
                        elif windows_i[c, s, 1] != start:
                            counters[3] += 1
                            continue
                        windows_i[c, s, 3] = max(windows_i[c, s, 3], recv[i])
                        # add the price to the trade or mid OHLC as ``Ohlc.add`` does: open
                        # and close follow event time. Written out here, not in a helper:
                        # passing the window arrays to one, even inlined, costs two
                        # reference count increments and decrements per event.
                        if windows_i[c, s, ohlc_i] == 0:
                            windows_f[c, s, ohlc_f] = p
                            windows_f[c, s, ohlc_f + 1] = p
                            windows_f[c, s, ohlc_f + 2] = p
                            windows_f[c, s, ohlc_f + 3] = p
                            windows_i[c, s, ohlc_i + 1] = t
                            windows_i[c, s, ohlc_i + 2] = t
                        else:
                            if t < windows_i[c, s, ohlc_i + 1]:
                                windows_f[c, s, ohlc_f] = p
                                windows_i[c, s, ohlc_i + 1] = t
                            if t >= windows_i[c, s, ohlc_i + 2]:
                                windows_f[c, s, ohlc_f + 3] = p
                                windows_i[c, s, ohlc_i + 2] = t
                            if p > windows_f[c, s, ohlc_f + 1]:
                                windows_f[c, s, ohlc_f + 1] = p
                            if p < windows_f[c, s, ohlc_f + 2]:
                                windows_f[c, s, ohlc_f + 2] = p
                        windows_i[c, s, ohlc_i] += 1
                        if trade:
                            windows_f[c, s, 4] += size[i]
                            windows_f[c, s, 5] += p * size[i]
                if trade:
                    last_trade[c] = p
                else:
                    last_mid[c] = p
            out_version[i] = version[c]

            move_price = last_trade[c] if price_from_trades else last_mid[c]
            out_price[i] = move_price
            out_previous[i] = np.nan
            out_change[i] = np.nan
            move = 0
            if move_price != move_price:
                out_missing[i] = MISSING_PRICE
            elif not has_closes[c]:
                out_missing[i] = MISSING_CLOSES
            else:
                if not hour_start <= t < hour_start + NS_PER_HOUR:  # a division only per new hour
                    hour = t // NS_PER_HOUR
                    hour_start = hour * NS_PER_HOUR
                    hour_session = hour_slot[hour - hour_base]
                slot = hour_session
                close = closes[c, np.uint64(slot)]
                out_previous[i] = close
                if close != close:
                    out_missing[i] = MISSING_DAY + slot
                elif close <= 0:
                    out_missing[i] = MISSING_NOT_POSITIVE
                else:
                    out_missing[i] = 0
                    n_known += 1
                    change = (move_price - close) / close * 100.0
                    out_change[i] = change
                    if change >= threshold[c] - ON_THRESHOLD_PCT:
                        move = MOVE_BULLISH
                    elif change <= ON_THRESHOLD_PCT - threshold[c]:
                        move = MOVE_BEARISH
                    else:
                        move = MOVE_NEUTRAL
            out_move[i] = move

            if not price_alerts:  # only the memory the rules would start from
                if move_price == move_price:
                    alert_price[c] = move_price
                continue
            fired_from = n_alerts
            if move_price == move_price:
                previous = alert_price[c]
                if previous == previous:
                    for j in range(level_offsets[c], level_offsets[c + np.uint64(1)]):
                        level = levels[j]
                        rule = 0
                        if previous < level <= move_price:
                            rule = ALERT_ABOVE_LEVEL
                        elif previous > level >= move_price:
                            rule = ALERT_BELOW_LEVEL
                        if rule:
                            alerts_i[n_alerts, 1] = rule
                            alerts_f[n_alerts, 1] = level
                            n_alerts += 1
                alert_price[c] = move_price
                if session_extremes:
                    if not hour_start <= t < hour_start + NS_PER_HOUR:
                        hour = t // NS_PER_HOUR
                        hour_start = hour * NS_PER_HOUR
                        hour_session = hour_slot[hour - hour_base]
                    session = slot_ordinal[hour_session]
                    rule = 0
                    extreme = 0.0
                    if session != alert_session[c]:
                        alert_session[c] = session
                        alert_high[c] = move_price
                        alert_low[c] = move_price
                    elif move_price > alert_high[c]:
                        rule = ALERT_SESSION_HIGH
                        extreme = alert_high[c]
                        alert_high[c] = move_price
                    elif move_price < alert_low[c]:
                        rule = ALERT_SESSION_LOW
                        extreme = alert_low[c]
                        alert_low[c] = move_price
                    if rule:
                        alerts_i[n_alerts, 1] = rule
                        alerts_f[n_alerts, 1] = extreme
                        n_alerts += 1
            if move_changes and move != 0:
                if alert_move[c] != 0 and move != alert_move[c]:
                    alerts_i[n_alerts, 1] = ALERT_MOVE_CHANGE
                    alerts_i[n_alerts, 2] = alert_move[c]
                    alerts_f[n_alerts, 1] = np.nan
                    n_alerts += 1
                alert_move[c] = move
            for j in range(fired_from, n_alerts):
                alerts_i[j, 0] = i
                alerts_f[j, 0] = move_price
                full = full or n_alerts > alerts_room
        counters[4] = n_bars
        counters[5] = n_alerts
        counters[6] = n_known
        return n

    return enrich_batch
