"""The exchange's durable record: every command in order, in SQLite, before it is acknowledged.

The engine is deterministic, so the ordered commands are the whole state:
replaying them into a fresh :class:`~quoteflow.exchange.engine.Engine` rebuilds
the books, the open orders and every sequence number exactly, after a crash as
after a clean stop. A command is committed (WAL) before the caller acknowledges
it, so no acknowledged order is lost when the process dies (``kill -9``). For a
power loss or an OS crash the log must be on disk too: :meth:`CommandStore.sync`
flushes everything appended so far (the WAL file), which
:mod:`~quoteflow.exchange.durability` does for many commands at once. The executions are kept too
(:meth:`CommandStore.record_executions`), after their command; a crash between
the two loses none, since replaying the command gives them again. Client order
ids are checked by the exchange, which knows every order from the replay; the
store keeps what it is given.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from quoteflow.events.exchange import Command, Execution

__all__ = ["CommandStore"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    sequence INTEGER PRIMARY KEY,
    command BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    symbol TEXT NOT NULL,
    execution_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    execution BLOB NOT NULL,
    PRIMARY KEY (symbol, execution_id)
);
CREATE TABLE IF NOT EXISTS published (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL
);
"""


class CommandStore:
    """The ordered commands of one exchange, in a SQLite file created ``0600``.

    ``fsync`` says that answers must wait for :meth:`sync` (power-loss safe).
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        # used by one thread at a time (the server's event loop), not always its creator
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # the disk: sync(), for many at once
        self.fsync = fsync
        self._wal: int | None = None
        # checkpoints flush to disk: done by checkpoint(), off the path of an order
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Command)

    def append(self, command: Command) -> int:
        """Store ``command`` durably; return its sequence number."""
        cursor = self._db.execute("INSERT INTO commands (command) VALUES (?)",
                                  (self._encoder.encode(command),))  # autocommit  # fmt: skip
        return int(cursor.lastrowid or 0)

    def sync(self) -> None:
        """Put every command appended so far on disk (fsync of the WAL; a thread may call it)."""
        if self._wal is None:
            try:
                self._wal = os.open(f"{self.path}-wal", os.O_RDONLY)
            except FileNotFoundError:  # nothing in a log yet: all is in the database file
                return
        os.fsync(self._wal)

    def commands(self, after: int = 0) -> Iterator[tuple[int, Command]]:
        """Yield ``(sequence, command)`` after ``after``, in order."""
        rows = self._db.execute(
            "SELECT sequence, command FROM commands WHERE sequence > ? ORDER BY sequence", (after,)
        )
        for sequence, payload in rows:
            yield sequence, self._decoder.decode(payload)

    def record_executions(self, executions: Iterable[Execution]) -> None:
        """Keep ``executions`` (those already kept are left as they are)."""
        rows = [
            (e.instrument, e.execution_id, e.sequence, self._encoder.encode(e)) for e in executions
        ]
        if rows:
            with self._db:
                self._db.executemany("INSERT OR IGNORE INTO executions VALUES (?, ?, ?, ?)", rows)

    def executions_through(self) -> int:
        """Return the sequence number of the last command whose executions are kept (0: none)."""
        row = self._db.execute("SELECT MAX(sequence) FROM executions").fetchone()
        return int(row[0] or 0)

    def executions(self, symbol: str) -> Iterator[Execution]:
        """Yield the kept executions of ``symbol``, oldest first."""
        rows = self._db.execute("SELECT execution FROM executions WHERE symbol = ? "
                                "ORDER BY execution_id", (symbol,))  # fmt: skip
        decode = msgspec.msgpack.Decoder(Execution).decode
        for (payload,) in rows:
            yield decode(payload)

    def mark_published(self, sequence: int) -> None:
        """Note that a durable bus has confirmed the commands up to ``sequence``."""
        with self._db:
            self._db.execute(
                "INSERT INTO published VALUES (1, ?) ON CONFLICT (id) DO UPDATE "
                "SET sequence = MAX(sequence, excluded.sequence)",
                (sequence,),
            )

    def published_through(self) -> int:
        """Return the last command a durable bus confirmed (0: none)."""
        row = self._db.execute("SELECT sequence FROM published").fetchone()
        return int(row[0]) if row else 0

    def checkpoint(self) -> None:
        """Copy committed commands from the WAL into the database file (a thread may call it).

        Uses a connection of its own and never blocks appends (``PASSIVE``).
        """
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Close the file."""
        if self._wal is not None:
            os.close(self._wal)
        self._db.close()
