"""API keys for subscribers: created once, stored hashed in SQLite, entitled to channels.

A key reads ``qf_<id>_<secret>``: the id (8 characters) finds the row, the
whole key is checked against its scrypt hash (random salt per key; the key
itself is never stored, logged or shown again after :meth:`KeyStore.create`).
Each key is entitled to channels and instrument patterns (``*`` and ``?`` as in
shell globs), and carries a connection limit and a message-rate limit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from quoteflow.errors import ConfigError

__all__ = ["ApiKey", "KeyStore"]

_PREFIX = "qf"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    channels TEXT NOT NULL,
    instruments TEXT NOT NULL,
    max_connections INTEGER NOT NULL,
    max_messages_per_s REAL NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


@dataclass(frozen=True)
class ApiKey:
    """What a key may do; never holds the key itself."""

    key_id: str
    name: str
    channels: tuple[str, ...]
    instruments: tuple[str, ...]
    max_connections: int
    max_messages_per_s: float
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Return whether the key was revoked."""
        return self.revoked_at is not None

    def allows(self, channel: str, instrument: str) -> bool:
        """Return whether the key is entitled to ``instrument`` on ``channel``.

        >>> key = ApiKey("id", "n", ("quotes.enriched", "bars.*"), ("AAPL", "BTC-*"), 1, 1.0, 0.0)
        >>> key.allows("bars.1m", "BTC-PERPETUAL"), key.allows("alerts", "AAPL")
        (True, False)
        """
        return any(fnmatchcase(channel, c) for c in self.channels) and any(
            fnmatchcase(instrument, i) for i in self.instruments
        )


def _hash(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode(), salt=salt, **_SCRYPT)


class KeyStore:
    """The API keys in one SQLite file, created with owner-only permissions (0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif self.path.stat().st_mode & 0o077:
            raise ConfigError(f"key store {self.path} is readable by others; run: chmod 600 "
                              f"{self.path}")  # fmt: skip
        connection = sqlite3.connect(self.path)
        connection.execute(_SCHEMA)
        return connection

    def create(
        self,
        name: str,
        *,
        channels: Sequence[str],
        instruments: Sequence[str],
        max_connections: int = 5,
        max_messages_per_s: float = 50_000.0,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it and the secret key text, which is shown only this once.

        Raises ConfigError for an empty name, channel or instrument list, a
        non-positive limit, or a name already taken.
        """
        if not name or not channels or not instruments:
            raise ConfigError("a key needs a name, at least one channel and one instrument")
        if max_connections < 1 or max_messages_per_s <= 0:
            raise ConfigError("max_connections and max_messages_per_s must be positive")
        key_id = secrets.token_hex(4)
        text = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
        salt = secrets.token_bytes(16)
        key = ApiKey(key_id, name, tuple(channels), tuple(instruments), max_connections,
                     max_messages_per_s, time.time())  # fmt: skip
        with self._connect() as db:
            try:
                db.execute(
                    "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (key_id, name, salt, _hash(text, salt), json.dumps(key.channels),
                     json.dumps(key.instruments), max_connections, max_messages_per_s,
                     key.created_at),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                raise ConfigError(f"a key named {name!r} exists already") from exc
        return key, text

    def list(self) -> list[ApiKey]:
        """Return every key, revoked ones included, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT key_id, name, channels, instruments, max_connections, "
                "max_messages_per_s, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [_key(row) for row in rows]

    def revoke(self, name: str) -> ApiKey:
        """Revoke the key called ``name``; raise ConfigError if there is none."""
        with self._connect() as db:
            changed = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (time.time(), name),
            ).rowcount
        if not changed:
            raise ConfigError(f"no active key named {name!r}")
        return next(key for key in self.list() if key.name == name)

    def revoked_among(self, key_ids: Collection[str]) -> set[str]:
        """Return which of ``key_ids`` are revoked or no longer exist."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        with self._connect() as db:
            active = db.execute(
                f"SELECT key_id FROM api_keys WHERE revoked_at IS NULL AND key_id IN ({marks})",
                wanted,
            ).fetchall()
        return set(wanted) - {row[0] for row in active}

    def verify(self, text: str) -> ApiKey | None:
        """Return the key ``text`` is, if it exists and is not revoked; else None."""
        parts = text.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT key_id, name, channels, instruments, max_connections, "
                "max_messages_per_s, created_at, revoked_at, salt, hash FROM api_keys "
                "WHERE key_id = ?",
                (parts[1],),
            ).fetchone()
        if row is None or not hmac.compare_digest(_hash(text, row[8]), row[9]):
            return None
        key = _key(row[:8])
        return None if key.revoked else key


def _key(row: tuple) -> ApiKey:
    key_id, name, channels, instruments, connections, rate, created, revoked = row
    return ApiKey(key_id, name, tuple(json.loads(channels)), tuple(json.loads(instruments)),
                  connections, rate, created, revoked)  # fmt: skip
