"""The compiled matching loop: commands in as rows of integers, what happened out as rows.

:class:`quoteflow.exchange.engine.Engine` keeps its books in the arrays of
:class:`MatchingState` and hands a batch of commands to :func:`match_batch`,
which applies them in order with the rules described in
:mod:`quoteflow.exchange.engine` and appends one row per order update,
execution and book change to ``events`` (book changes list their levels in
``levels_out``). The engine turns the rows into records.

Layout:

- ``orders[slot]``: one row per order being matched or resting (``O_*``);
  free slots form a stack in ``free``; ``ids`` maps an order id to its slot
  while the order rests.
- ``levels[book * 2 + side, position]``: the price levels of one side
  (``L_*``), sorted by key (price for bids, minus price for asks), so the best
  level is the last one and new levels near the touch shift little. Each
  level is a FIFO of order slots linked through ``O_NEXT``/``O_PREV``.
- ``heaps[book]``: a binary min-heap of (expiry, order id) per book; entries of
  orders that left are skipped when they come up.
- ``books[book]``: last trade, band limits, execution count, band ratio, live
  orders (``B_*``).

Before each command the loop checks that every buffer has room for the most
that command can add; when one has not, it returns the command's index and
the engine grows the buffers and calls again from there.
"""

from __future__ import annotations

import numba

__all__ = ["band", "match_batch", "room_needed"]

# commands
C_KIND, C_SEQUENCE, C_BOOK, C_ORDER, C_TRADER, C_SIDE, C_MARKET, C_TIF = range(8)
C_QUANTITY, C_PRICE, C_EXPIRE, C_HAS_EXPIRE, C_NOW = range(8, 13)
C_NEW_QUANTITY, C_HAS_NEW_QUANTITY, C_NEW_PRICE, C_HAS_NEW_PRICE, C_FILLED = range(13, 18)
C_FIELDS = 18
SUBMIT, CANCEL, AMEND, EXPIRE, REST = range(5)

# orders
O_ID, O_BOOK, O_SIDE, O_PRICE, O_QUANTITY, O_FILLED, O_OPEN, O_TRADER = range(8)
O_EXPIRE, O_HAS_EXPIRE, O_MARKET, O_TIF, O_NEXT, O_PREV = range(8, 14)
O_FIELDS = 14
BUY, SELL = 0, 1
DAY, GTC, IOC, FOK, GTD = range(5)
NONE = -1

# levels
L_KEY, L_HEAD, L_TAIL, L_COUNT, L_TOTAL = range(5)
L_FIELDS = 5

# books
B_LAST, B_LOW, B_HIGH, B_EXECUTIONS, B_BAND_NUMERATOR, B_BAND_DENOMINATOR, B_LIVE = range(7)
B_FIELDS = 7

# events: kind and command index, then the fields of the kind
E_KIND, E_COMMAND = 0, 1
UPDATE, EXECUTION, BOOK = range(3)
U_ORDER, U_STATUS, U_FILLED, U_OPEN, U_PRICE, U_HAS_PRICE, U_REASON, U_ACK = range(2, 10)
X_ID, X_PRICE, X_QUANTITY, X_AGGRESSOR, X_BUY_ORDER, X_SELL_ORDER = range(2, 8)
X_BUY_TRADER, X_SELL_TRADER = 8, 9
K_START, K_BIDS, K_ASKS, K_BID, K_BID_QUANTITY, K_HAS_BID = range(2, 8)
K_ASK, K_ASK_QUANTITY, K_HAS_ASK = 8, 9, 10
E_FIELDS = 11

# order statuses and reasons, as numbered in the engine
NEW, PARTIALLY_FILLED, REPLACED, FILLED, CANCELLED, EXPIRED, REJECTED = range(7)
R_NONE, R_OUTSIDE_BAND, R_FOK_NOT_FILLABLE, R_NOT_FILLED_AT_ONCE = range(4)
R_CANCELLED_BY_TRADER, R_AMENDED_TO_ZERO, R_SELF_TRADE, R_UNKNOWN_ORDER = range(4, 8)

# counters
N_FREE, N_EVENTS, N_LEVELS_OUT, N_LAST_SEQUENCE = range(4)


@numba.njit(cache=True, inline="always")
def _key(side, price):
    return price if side == BUY else -price


@numba.njit(cache=True)
def band(last, numerator, denominator):
    """Return the band limits around ``last`` (ticks): the width rounds towards zero."""
    width = last * numerator // (100 * denominator)
    if width < 0 and last * numerator % (100 * denominator):
        width += 1
    return last - width, last + width


@numba.njit(cache=True)
def _position(levels, sizes, bs, key):
    """Return where ``key`` is or would go among the levels of side ``bs`` (ascending keys)."""
    low, high = 0, sizes[bs]
    while low < high:
        middle = (low + high) >> 1
        if levels[bs, middle, L_KEY] < key:
            low = middle + 1
        else:
            high = middle
    return low


@numba.njit(cache=True)
def _total_at(levels, sizes, bs, key):
    p = _position(levels, sizes, bs, key)
    if p < sizes[bs] and levels[bs, p, L_KEY] == key:
        return levels[bs, p, L_TOTAL]
    return 0


@numba.njit(cache=True, inline="always")
def _new_event(events, counters, kind, command):
    """Append an event row of ``kind`` for command ``command``; return its index."""
    e = counters[N_EVENTS]
    counters[N_EVENTS] = e + 1
    events[e, E_KIND] = kind
    events[e, E_COMMAND] = command
    return e


@numba.njit(cache=True)
def _emit_update(events, counters, command, orders, slot, status, reason):
    """Append the order update of ``slot``: terminal states have nothing open."""
    e = _new_event(events, counters, UPDATE, command)
    events[e, U_ORDER] = orders[slot, O_ID]
    events[e, U_STATUS] = status
    events[e, U_FILLED] = orders[slot, O_FILLED]
    events[e, U_OPEN] = 0 if status >= FILLED else orders[slot, O_OPEN]
    events[e, U_PRICE] = orders[slot, O_PRICE]
    events[e, U_HAS_PRICE] = 1 - orders[slot, O_MARKET]
    events[e, U_REASON] = reason
    events[e, U_ACK] = 0


@numba.njit(cache=True)
def _rest(orders, ids, levels, sizes, heaps, heap_sizes, books, changed, n_changed, slot):
    """Put order ``slot`` at the back of its price level; return the changed-level count."""
    book, side, price = orders[slot, O_BOOK], orders[slot, O_SIDE], orders[slot, O_PRICE]
    bs = book * 2 + side
    key = _key(side, price)
    p = _position(levels, sizes, bs, key)
    if p == sizes[bs] or levels[bs, p, L_KEY] != key:
        for q in range(sizes[bs], p, -1):
            for f in range(L_FIELDS):
                levels[bs, q, f] = levels[bs, q - 1, f]
        sizes[bs] += 1
        levels[bs, p, L_KEY] = key
        levels[bs, p, L_HEAD] = NONE
        levels[bs, p, L_TAIL] = NONE
        levels[bs, p, L_COUNT] = 0
        levels[bs, p, L_TOTAL] = 0
    tail = levels[bs, p, L_TAIL]
    orders[slot, O_PREV] = tail
    orders[slot, O_NEXT] = NONE
    if tail == NONE:
        levels[bs, p, L_HEAD] = slot
    else:
        orders[tail, O_NEXT] = slot
    levels[bs, p, L_TAIL] = slot
    levels[bs, p, L_COUNT] += 1
    levels[bs, p, L_TOTAL] += orders[slot, O_OPEN]
    ids[orders[slot, O_ID]] = slot
    books[book, B_LIVE] += 1
    if orders[slot, O_HAS_EXPIRE]:
        _heap_push(heaps, heap_sizes, book, orders[slot, O_EXPIRE], orders[slot, O_ID])
    changed[n_changed, 0] = side
    changed[n_changed, 1] = price
    return n_changed + 1


@numba.njit(cache=True)
def _remove(orders, ids, levels, sizes, books, changed, n_changed, slot):
    """Take order ``slot`` out of its level (dropping an emptied level); return the count."""
    book, side, price = orders[slot, O_BOOK], orders[slot, O_SIDE], orders[slot, O_PRICE]
    bs = book * 2 + side
    p = _position(levels, sizes, bs, _key(side, price))
    previous, following = orders[slot, O_PREV], orders[slot, O_NEXT]
    if previous == NONE:
        levels[bs, p, L_HEAD] = following
    else:
        orders[previous, O_NEXT] = following
    if following == NONE:
        levels[bs, p, L_TAIL] = previous
    else:
        orders[following, O_PREV] = previous
    levels[bs, p, L_COUNT] -= 1
    if levels[bs, p, L_COUNT] == 0:
        for q in range(p, sizes[bs] - 1):
            for f in range(L_FIELDS):
                levels[bs, q, f] = levels[bs, q + 1, f]
        sizes[bs] -= 1
    else:
        levels[bs, p, L_TOTAL] -= orders[slot, O_OPEN]
    del ids[orders[slot, O_ID]]
    books[book, B_LIVE] -= 1
    changed[n_changed, 0] = side
    changed[n_changed, 1] = price
    return n_changed + 1


@numba.njit(cache=True)
def _take(orders, levels, sizes, changed, n_changed, slot, quantity):
    """Take ``quantity`` off resting order ``slot`` (a fill or a reduction); return the count."""
    side, price = orders[slot, O_SIDE], orders[slot, O_PRICE]
    bs = orders[slot, O_BOOK] * 2 + side
    p = _position(levels, sizes, bs, _key(side, price))
    orders[slot, O_OPEN] -= quantity
    levels[bs, p, L_TOTAL] -= quantity
    changed[n_changed, 0] = side
    changed[n_changed, 1] = price
    return n_changed + 1


@numba.njit(cache=True, inline="always")
def _heap_less(heaps, book, a, b):
    return heaps[book, a, 0] < heaps[book, b, 0] or (
        heaps[book, a, 0] == heaps[book, b, 0] and heaps[book, a, 1] < heaps[book, b, 1]
    )


@numba.njit(cache=True)
def _heap_swap(heaps, book, a, b):
    for f in range(2):
        kept = heaps[book, a, f]
        heaps[book, a, f] = heaps[book, b, f]
        heaps[book, b, f] = kept


@numba.njit(cache=True)
def _heap_push(heaps, heap_sizes, book, expire, order_id):
    i = heap_sizes[book]
    heap_sizes[book] = i + 1
    heaps[book, i, 0] = expire
    heaps[book, i, 1] = order_id
    while i > 0:
        parent = (i - 1) >> 1
        if not _heap_less(heaps, book, i, parent):
            break
        _heap_swap(heaps, book, i, parent)
        i = parent


@numba.njit(cache=True)
def heap_pop(heaps, heap_sizes, book):
    """Drop the smallest entry of ``book``'s heap."""
    n = heap_sizes[book] - 1
    heap_sizes[book] = n
    heaps[book, 0, 0] = heaps[book, n, 0]
    heaps[book, 0, 1] = heaps[book, n, 1]
    i = 0
    while True:
        smallest, left = i, 2 * i + 1
        if left < n and _heap_less(heaps, book, left, smallest):
            smallest = left
        if left + 1 < n and _heap_less(heaps, book, left + 1, smallest):
            smallest = left + 1
        if smallest == i:
            return
        _heap_swap(heaps, book, i, smallest)
        i = smallest


@numba.njit(cache=True)
def _available(orders, levels, sizes, slot):
    """Quantity other traders offer within incoming order ``slot``'s limit."""
    side, limit, trader = orders[slot, O_SIDE], orders[slot, O_PRICE], orders[slot, O_TRADER]
    bs = orders[slot, O_BOOK] * 2 + 1 - side
    total = 0
    for p in range(sizes[bs] - 1, -1, -1):
        key = levels[bs, p, L_KEY]
        price = key if side == SELL else -key
        if (price > limit) if side == BUY else (price < limit):
            break
        total += levels[bs, p, L_TOTAL]
        r = levels[bs, p, L_HEAD]
        while r != NONE:
            if orders[r, O_TRADER] == trader:
                total -= orders[r, O_OPEN]
            r = orders[r, O_NEXT]
        if total >= orders[slot, O_OPEN]:
            break
    return total


@numba.njit(cache=True)
def _match(orders, ids, levels, sizes, books, free, counters, events, changed, n_changed,
           slot, command):  # fmt: skip
    """Trade incoming order ``slot`` against the other side; return the changed-level count."""
    side, limit, trader = orders[slot, O_SIDE], orders[slot, O_PRICE], orders[slot, O_TRADER]
    book = orders[slot, O_BOOK]
    bs = book * 2 + 1 - side
    while orders[slot, O_OPEN] and sizes[bs]:
        top = sizes[bs] - 1
        key = levels[bs, top, L_KEY]
        price = key if side == SELL else -key
        if (price > limit) if side == BUY else (price < limit):
            break
        resting = levels[bs, top, L_HEAD]
        if orders[resting, O_TRADER] == trader:  # self-trade prevention: the resting one goes
            n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, resting)
            _emit_update(events, counters, command, orders, resting, CANCELLED, R_SELF_TRADE)
            free[counters[N_FREE]] = resting
            counters[N_FREE] += 1
            continue
        quantity = min(orders[slot, O_OPEN], orders[resting, O_OPEN])
        orders[slot, O_FILLED] += quantity
        orders[slot, O_OPEN] -= quantity
        orders[resting, O_FILLED] += quantity
        n_changed = _take(orders, levels, sizes, changed, n_changed, resting, quantity)
        if price != books[book, B_LAST]:
            books[book, B_LAST] = price
            books[book, B_LOW], books[book, B_HIGH] = band(
                price, books[book, B_BAND_NUMERATOR], books[book, B_BAND_DENOMINATOR]
            )
        books[book, B_EXECUTIONS] += 1
        e = _new_event(events, counters, EXECUTION, command)
        buy, sell = (slot, resting) if side == BUY else (resting, slot)
        events[e, X_ID] = books[book, B_EXECUTIONS]
        events[e, X_PRICE] = price
        events[e, X_QUANTITY] = quantity
        events[e, X_AGGRESSOR] = side
        events[e, X_BUY_ORDER] = orders[buy, O_ID]
        events[e, X_SELL_ORDER] = orders[sell, O_ID]
        events[e, X_BUY_TRADER] = orders[buy, O_TRADER]
        events[e, X_SELL_TRADER] = orders[sell, O_TRADER]
        if orders[resting, O_OPEN] == 0:
            n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, resting)
            _emit_update(events, counters, command, orders, resting, FILLED, R_NONE)
            free[counters[N_FREE]] = resting
            counters[N_FREE] += 1
        else:
            _emit_update(events, counters, command, orders, resting, PARTIALLY_FILLED, R_NONE)
        status = FILLED if orders[slot, O_OPEN] == 0 else PARTIALLY_FILLED
        _emit_update(events, counters, command, orders, slot, status, R_NONE)
    return n_changed


@numba.njit(cache=True)
def _book_change(levels, sizes, events, levels_out, counters, changed, n_changed, book, command):
    """Append the book event of the levels changed by the command, if any (best first)."""
    if n_changed == 0:
        return
    for j in range(1, n_changed):  # insertion sort by side, then best price first
        side, price = changed[j, 0], changed[j, 1]
        k = j
        while k > 0 and _before(side, price, changed[k - 1, 0], changed[k - 1, 1]):
            changed[k, 0] = changed[k - 1, 0]
            changed[k, 1] = changed[k - 1, 1]
            k -= 1
        changed[k, 0] = side
        changed[k, 1] = price
    start = counters[N_LEVELS_OUT]
    out = start
    bids = 0
    for j in range(n_changed):
        side, price = changed[j, 0], changed[j, 1]
        if j and side == changed[j - 1, 0] and price == changed[j - 1, 1]:
            continue
        levels_out[out, 0] = price
        levels_out[out, 1] = _total_at(levels, sizes, book * 2 + side, _key(side, price))
        out += 1
        bids += side == BUY
    counters[N_LEVELS_OUT] = out
    e = _new_event(events, counters, BOOK, command)
    events[e, K_START] = start
    events[e, K_BIDS] = bids
    events[e, K_ASKS] = out - start - bids
    _top(levels, sizes, events, e, book * 2 + BUY, K_BID, 1)
    _top(levels, sizes, events, e, book * 2 + SELL, K_ASK, -1)


@numba.njit(cache=True, inline="always")
def _before(side, price, other_side, other_price):
    """Whether changed level (side, price) comes before the other: bids, then asks, best first."""
    if side != other_side:
        return side < other_side
    return price > other_price if side == BUY else price < other_price


@numba.njit(cache=True, inline="always")
def _top(levels, sizes, events, e, bs, at, sign):
    """Write the best level of side ``bs`` (price, quantity, present) at field ``at``."""
    size = sizes[bs]
    if size:
        events[e, at] = sign * levels[bs, size - 1, L_KEY]
        events[e, at + 1] = levels[bs, size - 1, L_TOTAL]
        events[e, at + 2] = 1
    else:
        events[e, at] = 0
        events[e, at + 1] = 0
        events[e, at + 2] = 0


@numba.njit(cache=True)
def room_needed(book, sizes, heap_sizes, books, counters):
    """Return the sizes the buffers need for the most one command on ``book`` may add.

    (free order rows, levels per side, heap entries, event rows, level rows out,
    changed levels): a command rests at most one order (one new level, one heap
    entry) and touches each resting order of its book at most once (an
    expiry, a self-trade cancel, or an execution and two updates).
    """
    live = books[book, B_LIVE]
    return (
        1,
        max(sizes[2 * book], sizes[2 * book + 1]) + 1,
        heap_sizes[book] + 1,
        counters[N_EVENTS] + 3 * live + 8,
        counters[N_LEVELS_OUT] + sizes[2 * book] + sizes[2 * book + 1] + 2,
        2 * live + 4,
    )


@numba.njit(cache=True)
def _has_room(book, orders, levels, sizes, heaps, heap_sizes, books, counters, events,
              levels_out, changed):  # fmt: skip
    """Whether every buffer can take the most that a command on ``book`` may add."""
    free, level_count, heap_count, event_count, levels_out_count, changed_count = room_needed(
        book, sizes, heap_sizes, books, counters
    )
    return (
        counters[N_FREE] >= free
        and levels.shape[1] >= level_count
        and heaps.shape[1] >= heap_count
        and events.shape[0] >= event_count
        and levels_out.shape[0] >= levels_out_count
        and changed.shape[0] >= changed_count
    )


@numba.njit(cache=True)
def match_batch(first, commands, orders, free, ids, levels, sizes, heaps, heap_sizes, books,
                counters, events, levels_out, changed):  # fmt: skip
    """Apply commands from index ``first`` on; return the index it stopped at (all: their count).

    It stops before a command when a buffer might be too small for it.
    """
    n = commands.shape[0]
    for i in range(first, n):
        if not _has_room(commands[i, C_BOOK], orders, levels, sizes, heaps, heap_sizes, books,
                         counters, events, levels_out, changed):  # fmt: skip
            return i
        kind = commands[i, C_KIND]
        book = commands[i, C_BOOK]
        now = commands[i, C_NOW]
        n_changed = 0
        if kind == REST:
            counters[N_FREE] -= 1
            slot = free[counters[N_FREE]]
            _fill_order(orders, slot, commands, i)
            orders[slot, O_FILLED] = commands[i, C_FILLED]
            orders[slot, O_OPEN] = commands[i, C_QUANTITY] - commands[i, C_FILLED]
            _rest(orders, ids, levels, sizes, heaps, heap_sizes, books, changed, 0, slot)
            counters[N_LAST_SEQUENCE] = commands[i, C_SEQUENCE]
            continue
        first_event = counters[N_EVENTS]
        while heap_sizes[book] and heaps[book, 0, 0] <= now:  # expiries due before the command
            order_id = heaps[book, 0, 1]
            heap_pop(heaps, heap_sizes, book)
            if order_id in ids:
                slot = ids[order_id]
                n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, slot)
                _emit_update(events, counters, i, orders, slot, EXPIRED, R_NONE)
                free[counters[N_FREE]] = slot
                counters[N_FREE] += 1
        target = commands[i, C_ORDER]
        if kind == SUBMIT:
            n_changed = _submit(commands, i, orders, free, ids, levels, sizes, heaps, heap_sizes,
                                books, counters, events, changed, n_changed)  # fmt: skip
        elif kind in (CANCEL, AMEND):
            slot = NONE  # (the typed dict's get() gives an optional that numba cannot compare)
            if target in ids:
                slot = ids[target]
            if (slot == NONE or orders[slot, O_TRADER] != commands[i, C_TRADER]
                    or orders[slot, O_BOOK] != book):  # fmt: skip
                _emit_unknown(events, counters, i, target)
            elif kind == CANCEL:
                n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, slot)
                _emit_update(events, counters, i, orders, slot, CANCELLED, R_CANCELLED_BY_TRADER)
                free[counters[N_FREE]] = slot
                counters[N_FREE] += 1
            else:
                n_changed = _amend(commands, i, slot, orders, free, ids, levels, sizes, heaps,
                                   heap_sizes, books, counters, events, changed,
                                   n_changed)  # fmt: skip
        else:
            target = NONE
        if target != NONE:
            for e in range(counters[N_EVENTS] - 1, first_event - 1, -1):
                if events[e, E_KIND] == UPDATE and events[e, U_ORDER] == target:
                    events[e, U_ACK] = 1
                    break
        _book_change(levels, sizes, events, levels_out, counters, changed, n_changed, book, i)
        counters[N_LAST_SEQUENCE] = commands[i, C_SEQUENCE]
    return n


@numba.njit(cache=True)
def _fill_order(orders, slot, commands, i):
    orders[slot, O_ID] = commands[i, C_ORDER]
    orders[slot, O_BOOK] = commands[i, C_BOOK]
    orders[slot, O_SIDE] = commands[i, C_SIDE]
    orders[slot, O_PRICE] = commands[i, C_PRICE]
    orders[slot, O_QUANTITY] = commands[i, C_QUANTITY]
    orders[slot, O_FILLED] = 0
    orders[slot, O_OPEN] = commands[i, C_QUANTITY]
    orders[slot, O_TRADER] = commands[i, C_TRADER]
    orders[slot, O_EXPIRE] = commands[i, C_EXPIRE]
    orders[slot, O_HAS_EXPIRE] = commands[i, C_HAS_EXPIRE]
    orders[slot, O_MARKET] = commands[i, C_MARKET]
    orders[slot, O_TIF] = commands[i, C_TIF]


@numba.njit(cache=True)
def _emit_unknown(events, counters, command, order_id):
    e = _new_event(events, counters, UPDATE, command)
    events[e, U_ORDER] = order_id
    events[e, U_STATUS] = REJECTED
    events[e, U_FILLED] = 0
    events[e, U_OPEN] = 0
    events[e, U_PRICE] = 0
    events[e, U_HAS_PRICE] = 0
    events[e, U_REASON] = R_UNKNOWN_ORDER
    events[e, U_ACK] = 0


@numba.njit(cache=True)
def _submit(commands, i, orders, free, ids, levels, sizes, heaps, heap_sizes, books, counters,
            events, changed, n_changed):  # fmt: skip
    book = commands[i, C_BOOK]
    counters[N_FREE] -= 1
    slot = free[counters[N_FREE]]
    _fill_order(orders, slot, commands, i)
    low, high = books[book, B_LOW], books[book, B_HIGH]
    if commands[i, C_MARKET]:
        orders[slot, O_PRICE] = high if commands[i, C_SIDE] == BUY else low
    limit = orders[slot, O_PRICE]
    rests = False
    if not low <= limit <= high:
        _emit_update(events, counters, i, orders, slot, REJECTED, R_OUTSIDE_BAND)
    else:
        _emit_update(events, counters, i, orders, slot, NEW, R_NONE)
        tif = commands[i, C_TIF]
        if tif == FOK and _available(orders, levels, sizes, slot) < orders[slot, O_OPEN]:
            _emit_update(events, counters, i, orders, slot, CANCELLED, R_FOK_NOT_FILLABLE)
        else:
            n_changed = _match(orders, ids, levels, sizes, books, free, counters, events,
                               changed, n_changed, slot, i)  # fmt: skip
            if orders[slot, O_OPEN]:
                if commands[i, C_MARKET] or tif in (IOC, FOK):
                    _emit_update(events, counters, i, orders, slot, CANCELLED,
                                 R_NOT_FILLED_AT_ONCE)  # fmt: skip
                else:
                    n_changed = _rest(orders, ids, levels, sizes, heaps, heap_sizes, books,
                                      changed, n_changed, slot)  # fmt: skip
                    rests = True
    if not rests:
        free[counters[N_FREE]] = slot
        counters[N_FREE] += 1
    return n_changed


@numba.njit(cache=True)
def _amend(commands, i, slot, orders, free, ids, levels, sizes, heaps, heap_sizes, books,
           counters, events, changed, n_changed):  # fmt: skip
    book = commands[i, C_BOOK]
    has_quantity, has_price = commands[i, C_HAS_NEW_QUANTITY], commands[i, C_HAS_NEW_PRICE]
    quantity = commands[i, C_NEW_QUANTITY] if has_quantity else orders[slot, O_QUANTITY]
    price = commands[i, C_NEW_PRICE] if has_price else orders[slot, O_PRICE]
    filled = orders[slot, O_FILLED]
    if has_price and not books[book, B_LOW] <= price <= books[book, B_HIGH]:
        _emit_update(events, counters, i, orders, slot, REJECTED, R_OUTSIDE_BAND)
        events[counters[N_EVENTS] - 1, U_OPEN] = orders[slot, O_OPEN]  # refused: still open
        return n_changed
    if quantity <= filled:
        n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, slot)
        _emit_update(events, counters, i, orders, slot, CANCELLED, R_AMENDED_TO_ZERO)
        free[counters[N_FREE]] = slot
        counters[N_FREE] += 1
        return n_changed
    if price == orders[slot, O_PRICE] and quantity <= orders[slot, O_QUANTITY]:
        n_changed = _take(orders, levels, sizes, changed, n_changed, slot,
                          orders[slot, O_QUANTITY] - quantity)  # fmt: skip
        orders[slot, O_QUANTITY] = quantity
        _emit_update(events, counters, i, orders, slot, REPLACED, R_NONE)
        return n_changed
    n_changed = _remove(orders, ids, levels, sizes, books, changed, n_changed, slot)
    orders[slot, O_QUANTITY] = quantity
    orders[slot, O_OPEN] = quantity - filled
    orders[slot, O_PRICE] = price
    _emit_update(events, counters, i, orders, slot, REPLACED, R_NONE)
    n_changed = _match(orders, ids, levels, sizes, books, free, counters, events, changed,
                       n_changed, slot, i)  # fmt: skip
    if orders[slot, O_OPEN]:
        n_changed = _rest(orders, ids, levels, sizes, heaps, heap_sizes, books, changed,
                          n_changed, slot)  # fmt: skip
    else:
        free[counters[N_FREE]] = slot
        counters[N_FREE] += 1
    return n_changed
