"""The matching engine against the reference book on random order flows, and its invariants."""

from collections import Counter
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quoteflow.events.exchange import (
    TERMINAL,
    AcceptedOrder,
    Amend,
    BookUpdate,
    Cancel,
    Execution,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Submit,
    TimeInForce,
)
from quoteflow.exchange._matching import band
from quoteflow.exchange.engine import Engine
from quoteflow.exchange.instruments import ExchangeInstrument
from tests.exchange.reference_book import ReferenceBook

ACME = ExchangeInstrument("ACME", Decimal("0.01"), Decimal("10.00"), lot_size=10)
TRADERS = ["alice", "bob", "carol"]

submits = st.fixed_dictionaries({
    "op": st.just("submit"),
    "trader": st.sampled_from(TRADERS),
    "side": st.sampled_from(list(Side)),
    "market": st.integers(0, 9).map(lambda n: n == 0),
    "lots": st.integers(1, 6),
    "offset": st.integers(-4, 4),
    "tif": st.sampled_from(list(TimeInForce)),
    "life": st.integers(1, 30),
})  # fmt: skip
# cancels and amends pick one of the last orders, mostly as its owner (None), else as another
who = st.sampled_from([None, None, None, None, *TRADERS])
cancels = st.fixed_dictionaries({"op": st.just("cancel"), "pick": st.integers(1, 8),
                                 "trader": who})  # fmt: skip
amends = st.fixed_dictionaries({
    "op": st.just("amend"), "pick": st.integers(1, 8), "trader": who,
    "lots": st.none() | st.integers(0, 8), "offset": st.none() | st.integers(-4, 4),
})  # fmt: skip
commands = st.lists(
    st.tuples(st.integers(0, 4), st.one_of(submits, submits, submits, cancels, amends)),
    min_size=40,
    max_size=150,
)


def accepted(command, now):
    market = command["market"]
    tif = command["tif"]
    if market:
        tif = TimeInForce.FOK if tif is TimeInForce.FOK else TimeInForce.IOC
    expire = None
    if tif is TimeInForce.GTD:
        expire = now + command["life"]
    elif tif is TimeInForce.DAY:
        expire = now + 40
    price = None if market else 1000 + command["offset"]
    return AcceptedOrder("c", command["trader"], "ACME", command["side"],
                         OrderType.MARKET if market else OrderType.LIMIT,
                         command["lots"] * 10, price, tif, expire, now)  # fmt: skip


def logged(flow):
    """Return the flow as the exchange's log: (sequence, command) pairs."""
    out, now, submitted, owners = [], 0, [], {}
    for sequence, (wait, command) in enumerate(flow, 1):
        now += wait
        if command["op"] == "submit":
            order = accepted(command, now)
            out.append((sequence, Submit(order)))
            submitted.append(sequence)
            owners[sequence] = order.trader
        elif submitted:
            order_id = submitted[max(0, len(submitted) - command["pick"])]
            trader = command["trader"] or owners[order_id]
            if command["op"] == "cancel":
                out.append((sequence, Cancel("ACME", order_id, trader, now)))
            else:
                lots, offset = command["lots"], command["offset"]
                quantity = None if lots is None else lots * 10
                price = None if offset is None else 1000 + offset
                out.append((sequence, Amend("ACME", order_id, trader, now, quantity, price)))
    return out


def run(flow):
    """Apply the flow command by command to the engine and the reference book."""
    engine, reference = Engine({"ACME": ACME}), ReferenceBook(ACME)
    records, submitted = [], []
    for sequence, command in logged(flow):
        records += engine.apply(sequence, command)
        if isinstance(command, Submit):
            reference.submit(sequence, command.order)
            submitted.append(sequence)
        elif isinstance(command, Cancel):
            reference.cancel(command.order_id, command.trader, command.ts)
        else:
            reference.amend(command.order_id, command.trader, command.ts,
                            quantity=command.quantity, price=command.price)  # fmt: skip
    return engine, reference, records, submitted


def book_of(engine):
    return list(engine.resting("ACME"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_the_engine_gives_the_reference_books_executions_and_book(flow):
    engine, reference, records, _ = run(flow)
    executions = [r for r in records if isinstance(r, Execution)]
    assert [(e.price, e.quantity, e.aggressor, e.buy_order_id, e.sell_order_id)
            for e in executions] == reference.executions  # fmt: skip
    assert book_of(engine) == reference.book()
    ends = [r for r in records if isinstance(r, OrderUpdate) and r.status in TERMINAL]
    terminal = {r.order_id: r.status.value for r in ends if r.client_order_id}
    assert terminal == reference.final


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_invariants_hold_after_every_flow(flow):
    engine, _, records, submitted = run(flow)
    bids, asks = engine.depth("ACME", 1)
    assert not bids or not asks or bids[0][0] < asks[0][0]  # never crossed
    updates = [r for r in records if isinstance(r, OrderUpdate) and r.client_order_id]
    terminal = Counter(u.order_id for u in updates if u.status in TERMINAL)
    resting = engine.open_orders()
    for order_id in submitted:  # exactly one end, or still resting
        assert terminal[order_id] + (order_id in resting) == 1
    traded = Counter()
    for execution in (r for r in records if isinstance(r, Execution)):
        traded[execution.buy_order_id] += execution.quantity
        traded[execution.sell_order_id] += execution.quantity
        assert execution.buy_trader != execution.sell_trader  # no self-trade
    last = {u.order_id: u for u in updates}
    for order_id, update in last.items():  # quantity conserved: filled = what traded
        assert update.filled == traded[order_id]
    for update in updates:  # FOK is all or nothing
        if update.status is OrderStatus.CANCELLED and update.reason == "fok_not_fillable":
            assert update.filled == 0 and traded[update.order_id] == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_book_updates_rebuild_the_book_and_its_top(flow):
    engine, _, records, _ = run(flow)
    bids, asks = {}, {}
    for update in (r for r in records if isinstance(r, BookUpdate)):
        for levels, deltas in ((bids, update.bids), (asks, update.asks)):
            for price, quantity in deltas:
                levels[price] = quantity
                if not quantity:
                    del levels[price]
        assert update.best_bid == (max(bids.items()) if bids else None)
        assert update.best_ask == (min(asks.items()) if asks else None)
    assert (sorted(bids.items(), reverse=True), sorted(asks.items())) == engine.depth("ACME", 10**6)


def order(trader, side, quantity, price, tif=TimeInForce.GTC, now=0, kind=OrderType.LIMIT):
    return AcceptedOrder("c", trader, "ACME", side, kind, quantity, price, tif, None, now)


def ack(records):
    """The update that answers the command."""
    (answer,) = [r for r in records if isinstance(r, OrderUpdate) and r.ack]
    return answer


def test_price_time_priority_partial_fills_and_the_resting_price():
    engine = Engine({"ACME": ACME})
    engine.submit(1, order("alice", Side.SELL, 30, 1001))
    engine.submit(2, order("bob", Side.SELL, 30, 1000))
    engine.submit(3, order("carol", Side.SELL, 30, 1000))
    out = engine.submit(4, order("dave", Side.BUY, 70, 1002))
    trades = [(e.execution_id, e.price, e.quantity, e.sell_trader)
              for e in out if isinstance(e, Execution)]  # fmt: skip
    assert trades == [(1, 1000, 30, "bob"), (2, 1000, 30, "carol"), (3, 1001, 10, "alice")]
    assert (ack(out).order_id, ack(out).status, ack(out).filled) == (4, OrderStatus.FILLED, 70)
    assert engine.depth("ACME", 5) == ([], [(1001, 20)])
    assert out[-1] == BookUpdate("EXCHANGE", "ACME", 0, 0, [], [(1000, 0), (1001, 20)], None,
                                 (1001, 20), 4)  # fmt: skip


def test_a_market_order_never_trades_through_the_band():
    engine = Engine({"ACME": ACME})  # reference 10.00: band 9.00 to 11.00
    assert ack(engine.submit(1, order("alice", Side.SELL, 10, 1150))).reason == "outside_band"
    engine.submit(2, order("alice", Side.SELL, 10, 1050))
    engine.submit(3, order("alice", Side.SELL, 10, 1100))
    market = order("bob", Side.BUY, 30, None, TimeInForce.IOC, kind=OrderType.MARKET)
    out = engine.submit(4, market)
    fills = [(e.price, e.quantity) for e in out if isinstance(e, Execution)]
    assert fills == [(1050, 10), (1100, 10)]
    assert ack(out).status is OrderStatus.CANCELLED and ack(out).filled == 20
    engine = Engine({"ACME": ACME})
    engine.submit(5, order("carol", Side.SELL, 10, 1080))
    engine.submit(6, order("dave", Side.BUY, 10, 950))
    sell = order("erin", Side.SELL, 10, None, TimeInForce.IOC, kind=OrderType.MARKET)
    engine.submit(7, sell)  # trades at 9.50: the band is 8.55 to 10.45 now
    out = engine.submit(8, market)
    assert not [e for e in out if isinstance(e, Execution)]  # 10.80 rests outside the band
    assert ack(out).filled == 0


def test_reducing_keeps_priority_and_repricing_loses_it():
    engine = Engine({"ACME": ACME})
    engine.submit(1, order("alice", Side.BUY, 50, 990))
    engine.submit(2, order("bob", Side.BUY, 50, 990))
    assert ack(engine.amend(3, "ACME", 1, "alice", 1, quantity=20)).status is OrderStatus.REPLACED
    out = engine.submit(4, order("carol", Side.SELL, 20, 990))
    assert [e.buy_trader for e in out if isinstance(e, Execution)] == ["alice"]
    engine.submit(5, order("alice", Side.BUY, 10, 990))
    engine.amend(6, "ACME", 5, "alice", 2, price=991)
    engine.amend(7, "ACME", 5, "alice", 3, price=990)  # back at 990, behind bob now
    out = engine.submit(8, order("carol", Side.SELL, 10, 990))
    assert [e.buy_trader for e in out if isinstance(e, Execution)] == ["bob"]


def test_an_amend_outside_the_band_is_refused_and_changes_nothing():
    engine = Engine({"ACME": ACME})
    engine.submit(1, order("alice", Side.BUY, 50, 990))
    refused = ack(engine.amend(2, "ACME", 1, "alice", 1, price=1200))
    assert (refused.status, refused.reason, refused.open) == (OrderStatus.REJECTED,
                                                              "outside_band", 50)  # fmt: skip
    assert engine.depth("ACME", 1) == ([(990, 50)], [])


def test_orders_expire_on_time_and_only_their_owner_may_cancel():
    engine = Engine({"ACME": ACME})
    day = AcceptedOrder("c", "alice", "ACME", Side.BUY, OrderType.LIMIT, 10, 990,
                        TimeInForce.DAY, 100, 0)  # fmt: skip
    engine.submit(1, day)
    assert ack(engine.cancel(2, "ACME", 1, "bob", 50)).reason == "unknown_order"
    expired = engine.expire(3, "ACME", 100)
    assert [(u.order_id, u.status) for u in expired if isinstance(u, OrderUpdate)] == [
        (1, OrderStatus.EXPIRED)
    ]
    assert expired[-1] == BookUpdate("EXCHANGE", "ACME", 100, 100, [(990, 0)], [], None, None, 3)
    assert engine.depth("ACME", 1) == ([], [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.lists(st.integers(1, 149), max_size=4))
def test_snapshot_and_restore_at_any_point_give_the_same_records(flow, cuts):
    whole = run(flow)[2]
    engine = Engine({"ACME": ACME})
    split = []
    for sequence, command in logged(flow):
        if sequence in cuts:
            saved = engine.snapshot()
            engine = Engine.restore({"ACME": ACME}, saved)
            assert engine.snapshot() == saved
        split += engine.apply(sequence, command)
    assert split == whole


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.integers(1, 60))
def test_batches_give_the_records_of_their_commands_one_by_one(flow, size):
    log = logged(flow)
    engine = Engine({"ACME": ACME})
    batched = [
        r for start in range(0, len(log), size) for r in engine.apply_all(log[start : start + size])
    ]
    assert batched == run(flow)[2]


def test_a_deep_book_swept_at_once_matches_the_reference():
    """More orders, levels, expiries and records in one command than the first buffers hold."""
    wide = ExchangeInstrument("WIDE", Decimal("0.01"), Decimal("10.00"), band_pct=Decimal(50))
    engine, reference = Engine({"WIDE": wide}), ReferenceBook(wide)
    log = []
    for sequence in range(1, 401):
        tif, expire = (
            (TimeInForce.DAY, 10**6 + sequence) if sequence % 3 else (TimeInForce.GTC, None)
        )
        resting = AcceptedOrder(f"c{sequence}", f"t{sequence % 7}", "WIDE", Side.SELL,
                                OrderType.LIMIT, 5, 1001 + sequence % 200, tif, expire,
                                sequence)  # fmt: skip
        log.append((sequence, Submit(resting)))
    sweep = AcceptedOrder("sweep", "taker", "WIDE", Side.BUY, OrderType.MARKET, 1_500, None,
                          TimeInForce.IOC, None, 500)  # fmt: skip
    log.append((401, Submit(sweep)))
    records = engine.apply_all(log)
    for sequence, command in log:
        reference.submit(sequence, command.order)
    executions = [r for r in records if isinstance(r, Execution)]
    assert len(executions) == 300
    assert [(e.price, e.quantity, e.aggressor, e.buy_order_id, e.sell_order_id)
            for e in executions] == reference.executions  # fmt: skip
    assert list(engine.resting("WIDE")) == reference.book()
    due = {order_id for order_id, _, _ in engine.resting("WIDE")[1] if order_id % 3}
    expired = engine.expire(402, "WIDE", 2 * 10**6)
    assert {r.order_id for r in expired if isinstance(r, OrderUpdate)} == due
    assert all(order_id % 3 == 0 for order_id, _, _ in engine.resting("WIDE")[1])


@given(st.integers(1, 10**12), st.decimals("0.01", "100", places=2))
def test_the_band_in_the_compiled_loop_is_the_instruments(last, band_pct):
    instrument = ExchangeInstrument("ACME", Decimal("0.01"), Decimal("10.00"), band_pct=band_pct)
    numerator, denominator = band_pct.as_integer_ratio()
    assert band(last, numerator, denominator) == instrument.band(last)
