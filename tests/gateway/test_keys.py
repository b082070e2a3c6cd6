"""API keys: shown once, stored hashed, entitled to channels and instruments, revocable."""

import asyncio
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quoteflow.access import KeyStore
from quoteflow.access.auth import Authenticator
from quoteflow.errors import ConfigError

QUOTEFLOW = str(Path(sys.executable).with_name("quoteflow"))


def test_a_created_key_verifies_and_is_stored_only_as_a_hash(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    key, text = store.create("acme", channels=["quotes.enriched", "bars.*"],
                             instruments=["AAPL", "BTC-*"])  # fmt: skip
    assert text.startswith(f"qf_{key.key_id}_")
    assert store.verify(text) == key
    assert text.encode() not in (tmp_path / "keys.db").read_bytes()
    assert text.split("_", 2)[2].encode() not in (tmp_path / "keys.db").read_bytes()
    assert stat.S_IMODE((tmp_path / "keys.db").stat().st_mode) == 0o600


def test_wrong_malformed_and_revoked_keys_do_not_verify(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    _, text = store.create("acme", channels=["alerts"], instruments=["*"])
    assert store.verify(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert store.verify("not-a-key") is None and store.verify("qf_nope_x") is None
    store.revoke("acme")
    assert store.verify(text) is None
    assert store.list()[0].revoked
    with pytest.raises(ConfigError, match="no active key"):
        store.revoke("acme")


def test_entitlements_match_channels_and_instrument_patterns(tmp_path):
    key, _ = KeyStore(tmp_path / "k.db").create(
        "acme", channels=["quotes.enriched", "bars.*"], instruments=["AAPL", "BTC-*"]
    )
    assert key.allows("quotes.enriched", "AAPL") and key.allows("bars.5m", "BTC-PERPETUAL")
    assert not key.allows("alerts", "AAPL") and not key.allows("quotes.enriched", "MSFT")


def test_bad_requests_and_a_readable_store_are_refused(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    with pytest.raises(ConfigError):
        store.create("", channels=["alerts"], instruments=["*"])
    with pytest.raises(ConfigError):
        store.create("acme", channels=[], instruments=["*"])
    store.create("acme", channels=["alerts"], instruments=["*"])
    with pytest.raises(ConfigError, match="exists already"):
        store.create("acme", channels=["alerts"], instruments=["*"])
    (tmp_path / "keys.db").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        store.list()


def test_keys_commands_create_list_and_revoke(tmp_path):
    db = str(tmp_path / "keys.db")

    def keys(*args):
        return subprocess.run([QUOTEFLOW, "keys", *args, "--db", db], capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    created = keys("create", "--name", "acme", "--channels", "quotes.enriched",
                   "--instruments", "AMZN,AAPL")  # fmt: skip
    assert created.returncode == 0, created.stderr
    text = created.stdout.strip()
    assert KeyStore(db).verify(text).name == "acme"
    listed = keys("list")
    assert "acme" in listed.stdout and text not in listed.stdout
    assert keys("revoke", "--name", "acme").returncode == 0
    assert KeyStore(db).verify(text) is None
    again = keys("revoke", "--name", "acme")
    assert again.returncode == 2 and "no active key" in again.stderr


async def test_a_new_key_is_checked_once_however_many_requests_bring_it_at_once(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    _, text = store.create("acme", channels=["*"], instruments=["*"])
    verified, looked_up = [], []
    verify, revoked_among = store.verify, store.revoked_among
    store.verify = lambda key: verified.append(key) or verify(key)
    store.revoked_among = lambda ids: looked_up.append(ids) or revoked_among(ids)
    authenticator = Authenticator(store, recheck_s=0.05)
    first = await asyncio.gather(*(authenticator.check(text) for _ in range(50)))
    assert {key.name for key in first} == {"acme"} and len(verified) == 1  # one scrypt
    await asyncio.sleep(0.06)
    again = await asyncio.gather(*(authenticator.check(text) for _ in range(50)))
    assert {key.name for key in again} == {"acme"} and len(looked_up) == 1  # one query for all
    store.revoke("acme")
    await asyncio.sleep(0.06)
    assert await authenticator.check(text) is None
