"""Group commit: answers wait for a flush that covers them; one flush answers many orders."""

import asyncio

import pytest

from quoteflow.exchange.durability import GroupCommit
from quoteflow.exchange.errors import LogWriteError
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from tests.exchange.test_service import INSTRUMENTS, Clock, request


async def test_items_are_released_in_order_once_a_flush_covers_them():
    flushes, released = [], []
    commit = GroupCommit(lambda: flushes.append(len(flushes)), released.append)
    flushing = asyncio.create_task(commit.run())
    for sequence in (1, 2, 3):
        commit.hold(sequence, f"command {sequence}")
    assert released == []  # nothing before the disk
    await asyncio.gather(*(commit.until_durable(s) for s in (1, 2, 3)))
    assert released == ["command 1", "command 2", "command 3"] and len(flushes) == 1
    await commit.until_durable(2)  # durable already: at once
    flushing.cancel()


async def test_a_failed_flush_fails_the_waiting_answers_and_every_later_command():
    def broken():
        raise OSError("disk gone")

    commit = GroupCommit(broken, lambda item: None)
    flushing = asyncio.create_task(commit.run())
    commit.hold(1, "command 1")
    with pytest.raises(LogWriteError, match="disk gone"):
        await commit.until_durable(1)
    with pytest.raises(LogWriteError):
        await flushing
    with pytest.raises(LogWriteError):
        commit.hold(2, "command 2")


async def test_with_fsync_concurrent_orders_share_flushes_and_are_answered_when_on_disk(tmp_path):
    store = CommandStore(tmp_path / "x.db", fsync=True)
    flushes = []
    flush = store.sync
    store.sync = lambda: flushes.append(1) or flush()
    exchange = Exchange(INSTRUMENTS, store, clock=Clock())
    flushing = asyncio.create_task(exchange.group_commit.run())

    async def place(n):
        update = exchange.place(request(f"o{n}", side="buy" if n % 2 else "sell"), "t" + str(n))
        await exchange.durable(update)
        assert exchange.group_commit.durable >= update.sequence
        return update

    answers = await asyncio.gather(*(place(n) for n in range(50)))
    assert len(answers) == 50 and 1 <= len(flushes) < 10
    assert len(exchange.outbox) == 50  # each command went on to the orders topic after its flush
    flushing.cancel()
