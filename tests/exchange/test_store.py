"""The command store: durable before acknowledged, exact replay."""

import os
import signal
import stat
import subprocess
import sys
import time

import msgspec
import pytest

from quoteflow.events.exchange import (
    AcceptedOrder,
    Amend,
    Cancel,
    Expire,
    OrderType,
    Side,
    Submit,
    TimeInForce,
)
from quoteflow.exchange.engine import Engine
from quoteflow.exchange.store import CommandStore
from tests.exchange.test_engine import ACME, book_of


def order(client_order_id, trader="alice", side=Side.BUY, quantity=10, price=1000, now=0):
    return AcceptedOrder(client_order_id, trader, "ACME", side, OrderType.LIMIT, quantity, price,
                         TimeInForce.GTC, None, now)  # fmt: skip


@pytest.mark.parametrize("fsync", [False, True])
def test_commands_come_back_in_order_from_an_owner_only_file(tmp_path, fsync):
    store = CommandStore(tmp_path / "exchange.db", fsync=fsync)
    commands = [Submit(order("a")), Cancel("ACME", 1, "alice", 5),
                Amend("ACME", 1, "alice", 6, quantity=5), Expire("ACME", 7)]  # fmt: skip
    assert [store.append(c) for c in commands] == [1, 2, 3, 4]
    assert list(store.commands()) == list(enumerate(commands, start=1))
    assert list(store.commands(after=3)) == [(4, Expire("ACME", 7))]
    assert stat.S_IMODE((tmp_path / "exchange.db").stat().st_mode) == 0o600


def test_a_checkpoint_moves_the_log_into_the_file_and_loses_nothing(tmp_path):
    store = CommandStore(tmp_path / "exchange.db")
    for n in range(50):
        store.append(Submit(order(f"c{n}")))
    assert (tmp_path / "exchange.db-wal").stat().st_size > 0
    store.checkpoint()
    store.close()  # the last connection: the WAL is folded in and removed
    assert not (tmp_path / "exchange.db-wal").exists()
    assert len(list(CommandStore(tmp_path / "exchange.db").commands())) == 50


def test_replaying_the_store_rebuilds_the_engine_and_its_records_byte_for_byte(tmp_path):
    store = CommandStore(tmp_path / "exchange.db")
    live = Engine({"ACME": ACME})
    records = []
    sides = [Side.BUY, Side.SELL]
    for n in range(300):
        trader = ("alice", "bob", "carol")[n % 3]
        command = Submit(order(f"o{n}", trader, sides[n % 2], 10 * (1 + n % 4),
                               1000 + (n * 7) % 9 - 4, now=n))  # fmt: skip
        if n % 5 == 4:
            command = Cancel("ACME", n // 2, ("alice", "bob", "carol")[(n // 2) % 3], n)
        elif n % 7 == 6:
            command = Amend("ACME", n // 3, ("alice", "bob", "carol")[(n // 3) % 3], n,
                            price=1001)  # fmt: skip
        records += live.apply(store.append(command), command)
    store.close()
    replayed = Engine({"ACME": ACME})
    again = []
    for sequence, command in CommandStore(tmp_path / "exchange.db").commands():
        again += replayed.apply(sequence, command)
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(records)
    assert book_of(replayed) == book_of(live)
    assert replayed.last_sequence == live.last_sequence == 300
    assert replayed.executions("ACME") == live.executions("ACME") > 0


WRITER = """
import sys
from quoteflow.events.exchange import Submit
from quoteflow.events.exchange import AcceptedOrder, OrderType, Side, TimeInForce
from quoteflow.exchange.store import CommandStore
store = CommandStore(sys.argv[1])
n = int(sys.argv[2])
while True:
    order = AcceptedOrder(f"k{n}", "alice", "ACME", Side.BUY, OrderType.LIMIT, 10, 1000,
                          TimeInForce.GTC, None, n)
    print(store.append(Submit(order)), f"k{n}", flush=True)  # acknowledged once printed
    n += 1
"""


def test_every_acknowledged_command_survives_kill_9(tmp_path):
    path = tmp_path / "exchange.db"
    acknowledged = {}
    start = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(start)],
                                stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        lines = []
        deadline = time.monotonic() + 60
        while len(lines) < 50 and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in lines:
            sequence, client_order_id = line.split()
            acknowledged[int(sequence)] = client_order_id
        start += 10_000
    stored = {s: c.order.client_order_id for s, c in CommandStore(path).commands()}
    assert len(acknowledged) == 150
    assert all(stored.get(s) == c for s, c in acknowledged.items())
    assert sorted(stored) == list(range(1, len(stored) + 1))  # no hole from a torn write
