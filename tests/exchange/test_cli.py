"""The trader tools as a trader runs them: a real server, each command its own process."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quoteflow.access.keys import KeyStore

QUOTEFLOW = [str(Path(sys.executable).parent / "quoteflow")]

LISTING = """
[[instruments]]
symbol = "ACME"
tick_size = "0.01"
lot_size = 10
reference_price = "25.40"
calendar = "24/7"
"""


@pytest.fixture
def exchange(tmp_path):
    """A running ``quoteflow exchange serve``; yields (environment, url, keys by trader)."""
    (tmp_path / "listing.toml").write_text(LISTING)
    env = {**os.environ,
           "QUOTEFLOW_EXCHANGE__INSTRUMENTS": str(tmp_path / "listing.toml"),
           "QUOTEFLOW_EXCHANGE__DB": str(tmp_path / "x.db"),
           "QUOTEFLOW_GATEWAY__KEYS_DB": str(tmp_path / "keys.db"),
           "QUOTEFLOW_EXCHANGE__STATS_WINDOW": "2s",
           "QUOTEFLOW_EXCHANGE__STATS_EVERY": "1s",
           "QUOTEFLOW_EXCHANGE__STATS_LATENESS_MS": "0"}  # fmt: skip
    store = KeyStore(tmp_path / "keys.db")
    keys = {name: store.create(name, channels=["*"], instruments=["*"])[1]
            for name in ("alice", "bob")}  # fmt: skip
    server = subprocess.Popen([*QUOTEFLOW, "exchange", "serve", "--port", "0"],
                              stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        banner = server.stderr.readline()
        url = banner.split("exchange on ")[1].split("/v1")[0]
        yield env, url, keys
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert server.returncode == 0


def run(env, key, *args, background=False):
    command = [*QUOTEFLOW, "exchange", *args]
    env = {**env, "QUOTEFLOW_API_KEY": key}
    if background:
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_place_watch_amend_show_cancel_and_stats(exchange):
    env, url, keys = exchange
    code, out, err = run(env, keys["alice"], "order", "place", "ACME", "sell", "30",
                         "--price", "25.41", "--tif", "GTC", "--url", url)  # fmt: skip
    assert code == 0, err
    resting = json.loads(out)
    assert (resting["status"], resting["open"], resting["price"]) == ("new", 30, "25.41")
    watching = run(env, keys["alice"], "order", "watch", "--count", "2", "--url", url,
                   background=True)  # fmt: skip
    code, out, _ = run(env, keys["alice"], "order", "amend", str(resting["order_id"]),
                       "--quantity", "20", "--url", url)  # fmt: skip
    assert (code, json.loads(out)["status"], json.loads(out)["open"]) == (0, "replaced", 20)
    code, out, _ = run(env, keys["bob"], "order", "place", "ACME", "buy", "10", "--url", url)
    assert (code, json.loads(out)["status"], json.loads(out)["filled"]) == (0, "filled", 10)
    events = [json.loads(line) for line in watching.communicate(timeout=60)[0].splitlines()]
    assert [(e["event"], e.get("status")) for e in events] in (
        [("order", "replaced"), ("fill", None)],  # the watch was open before the amend
        [("fill", None), ("order", "partially_filled")],
    )
    code, out, _ = run(env, keys["alice"], "order", "show", str(resting["order_id"]), "--url", url)
    assert (code, json.loads(out)["filled"]) == (0, 10)
    code, out, _ = run(env, keys["alice"], "order", "cancel", str(resting["order_id"]),
                       "--url", url)  # fmt: skip
    assert (code, json.loads(out)["status"]) == (0, "cancelled")
    code, _, err = run(env, keys["bob"], "order", "cancel", str(resting["order_id"]),
                       "--url", url)  # fmt: skip
    assert code == 2 and "no order" in err  # not bob's
    code, _, err = run(env, keys["bob"], "order", "place", "ACME", "buy", "15", "--price",
                       "25.40", "--url", url)  # fmt: skip
    assert code == 2 and "lot_size" in err
    code, _, err = run(env, "", "order", "show", "1", "--url", url)
    assert code == 2 and "no API key" in err
    code, out, _ = run(env, "", "stats", "--json", "--url", url)
    assert code == 0 and set(json.loads(out)) >= {"symbols", "leaders"}


def test_simulate_over_http_trades_and_revokes_its_keys(exchange, tmp_path):
    env, url, _ = exchange
    code, _, err = run(env, "", "simulate", "--traders", "5", "--rate", "200", "--seconds", "3",
                       "--seed", "7", "--url", url)  # fmt: skip
    assert code == 0, err
    assert "accepted" in err and "p99" in err
    simulated = [k for k in KeyStore(tmp_path / "keys.db").list() if k.name.startswith("sim-")]
    assert len(simulated) == 6 and all(k.revoked for k in simulated)
    code, out, _ = run(env, "", "stats", "--json", "--url", url)
    assert code == 0 and json.loads(out)["symbols"]["ACME"]  # windows of 2 s have closed
