"""The gateway's audit log: connects, subscriptions and refusals, as JSON lines.

Each line names the key by its name and id, never the key itself, and the
client's address. The file is created with owner-only permissions (0600).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["AuditLog"]


class AuditLog:
    """Append audit events to a JSON-lines file, one line each, flushed at once."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock

    def record(self, event: str, *, key_id: str | None = None, key_name: str | None = None,
               remote: str | None = None, **details: Any) -> None:  # fmt: skip
        """Append one event: ``connect``, ``subscribe``, ``refuse``, ``disconnect``...

        ``details`` hold what the event is about (channel, instruments, reason).
        """
        entry = {"ts": self._clock(), "event": event, "key_id": key_id, "key_name": key_name,
                 "remote": remote, **details}  # fmt: skip
        line = msgspec.json.encode(entry) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
