from quoteflow.events import Quote, Trade
from quoteflow.runtime.merge import EventTimeMerge


def q(ts):
    return Quote("T", "A", ts, ts, bid_price=1.0, ask_price=1.1)


def t(ts):
    return Trade("T", "A", ts, ts, 1.05, 1.0)


def test_records_wait_until_every_input_has_caught_up_then_leave_in_event_time_order():
    now = [0.0]
    merge = EventTimeMerge(("quotes", "trades"), idle_s=1.0, clock=lambda: now[0])
    merge.add("quotes", [q(1), q(3), q(5), q(7)])
    assert merge.ready() == []  # nothing heard from trades yet
    merge.add("trades", [t(2), t(4)])
    assert [r.ts_event for r in merge.ready()] == [1, 2, 3, 4]
    assert len(merge) == 2
    merge.add("trades", [t(6)])
    assert [r.ts_event for r in merge.ready()] == [5, 6]
    assert [r.ts_event for r in merge.drain()] == [7]


def test_a_quiet_input_stops_holding_the_others_back_after_the_idle_time():
    now = [0.0]
    merge = EventTimeMerge(("quotes", "trades"), idle_s=1.0, clock=lambda: now[0])
    merge.add("trades", [t(2)])
    merge.add("quotes", [q(1), q(3), q(9)])
    assert [r.ts_event for r in merge.ready()] == [1, 2]
    now[0] = 0.9
    assert merge.ready() == []
    now[0] = 1.0
    assert [r.ts_event for r in merge.ready()] == [3, 9]
