"""kill -9 of ``quoteflow exchange serve``: nothing acknowledged is lost, the state is the same."""

import os
import random
import signal
import subprocess
import threading
from http.client import HTTPException

import pytest

from quoteflow.access.keys import KeyStore
from tests.exchange.test_cli import LISTING, QUOTEFLOW
from tests.exchange.test_serve import call


def start(env):
    server = subprocess.Popen([*QUOTEFLOW, "exchange", "serve", "--port", "0"],
                              stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    banner = server.stderr.readline()
    return server, banner.split("exchange on ")[1].split("/v1")[0]


def order(rng, n):
    side = rng.choice(["buy", "sell"])
    price = f"{25.40 + rng.randint(-3, 3) / 100:.2f}"
    return {"client_order_id": f"o{n}", "symbol": "ACME", "side": side,
            "quantity": 10 * rng.randint(1, 4), "price": price, "time_in_force": "GTC"}  # fmt: skip


def snapshot(url, key, acknowledged):
    _, book = call("GET", f"{url}/v1/book/ACME?depth=1000", key)
    _, trades = call("GET", f"{url}/v1/trades/ACME?limit=1000", key)
    states = {o["order_id"]: call("GET", f"{url}/v1/orders/{o['order_id']}", key)[1]
              for o in acknowledged.values()}  # fmt: skip
    return book, trades, states


@pytest.mark.parametrize("fsync", ["false", "true"])
def test_kill_9_while_orders_flow_loses_no_acknowledged_order_and_changes_nothing(tmp_path, fsync):
    (tmp_path / "listing.toml").write_text(LISTING)
    env = {**os.environ, "QUOTEFLOW_EXCHANGE__INSTRUMENTS": str(tmp_path / "listing.toml"),
           "QUOTEFLOW_EXCHANGE__DB": str(tmp_path / "x.db"),
           "QUOTEFLOW_GATEWAY__KEYS_DB": str(tmp_path / "keys.db"),
           "QUOTEFLOW_EXCHANGE__FSYNC": fsync}  # fmt: skip
    _, key = KeyStore(tmp_path / "keys.db").create("alice", channels=["*"], instruments=["*"])
    rng = random.Random(11)
    acknowledged, sent = {}, 0
    for _ in range(3):
        server, url = start(env)
        # a quiet moment: the state now must be the state after the restart
        before = snapshot(url, key, acknowledged)
        stop = threading.Event()

        def flow(url=url, stop=stop):
            nonlocal sent
            while not stop.is_set():
                body = order(rng, sent)
                sent += 1
                try:
                    status, state = call("POST", f"{url}/v1/orders", key, body)
                except (OSError, HTTPException):  # the server died under us: not acknowledged
                    return
                if status == 200:
                    acknowledged[body["client_order_id"]] = state

        # kill -9 on a quiet server, then again while orders flow
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        server, url = start(env)
        assert snapshot(url, key, acknowledged) == before
        sender = threading.Thread(target=flow, kwargs={"url": url})
        sender.start()
        goal = len(acknowledged) + rng.randint(80, 160)
        while len(acknowledged) < goal and sender.is_alive():
            threading.Event().wait(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        stop.set()
        sender.join()
    server, url = start(env)
    try:
        for client_order_id, state in acknowledged.items():
            status, now = call("GET", f"{url}/v1/orders/{state['order_id']}", key)
            assert status == 200 and now["client_order_id"] == client_order_id
        ids = [s["order_id"] for s in acknowledged.values()]
        assert len(set(ids)) == len(ids) > 200
        replay = order(random.Random(0), 0) | {"client_order_id": "fresh"}
        _, fresh = call("POST", f"{url}/v1/orders", key, replay)
        assert fresh["order_id"] > max(ids)  # numbering went on, nothing was reused
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
