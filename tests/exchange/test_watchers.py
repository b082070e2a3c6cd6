"""Each trader's event queues: their own events only, and overflow instead of silent loss."""

from quoteflow.events.exchange import Execution, OrderStatus, OrderUpdate, Side
from quoteflow.exchange.watchers import Watchers


def update(trader, order_id):
    return OrderUpdate("EXCHANGE", "ACME", 0, 0, order_id, "c", trader, OrderStatus.NEW, 0, 10,
                       1000, None, 1)  # fmt: skip


async def test_a_trader_gets_their_updates_and_both_sides_get_the_fill():
    watchers = Watchers()
    alice, bob = watchers.open("alice"), watchers.open("bob")
    fill = Execution("EXCHANGE", "ACME", 0, 0, 1, 1000, 10, Side.BUY, 2, 1, "bob", "alice",
                     2)  # fmt: skip
    watchers.publish([update("alice", 1), update("bob", 2), fill])
    assert [alice.queue.get_nowait() for _ in range(2)] == [update("alice", 1), fill]
    assert [bob.queue.get_nowait() for _ in range(2)] == [update("bob", 2), fill]
    watchers.close(alice)
    watchers.publish([update("alice", 3)])
    assert alice.queue.empty()


async def test_a_watch_that_falls_behind_is_marked_overflowed_and_gets_nothing_more():
    watchers = Watchers()
    slow = watchers.open("alice", limit=2)
    watchers.publish([update("alice", n) for n in range(1, 4)])
    assert slow.overflowed.is_set() and slow.queue.qsize() == 2
    slow.queue.get_nowait()
    watchers.publish([update("alice", 4)])
    assert slow.queue.qsize() == 1  # nothing after the overflow: its connection closes (4008)
