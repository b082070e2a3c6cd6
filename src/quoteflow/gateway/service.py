"""What the gateway's endpoints share: the hub, keys, limits, audit log and metrics."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from quoteflow.access.auth import Authenticator
from quoteflow.access.keys import ApiKey, KeyStore
from quoteflow.errors import QuoteflowError
from quoteflow.events import Bar
from quoteflow.gateway.audit import AuditLog
from quoteflow.gateway.delivery import Delivery, Wants
from quoteflow.gateway.errors import ResumeGapError
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.limits import ConnectionLimits, MessageRate
from quoteflow.gateway.metrics import GatewayMetrics

__all__ = ["BarReader", "Connection", "Gateway", "GatewayOptions"]

log = logging.getLogger(__name__)


BarReader = Callable[[str, str, int | None, int | None, int], list[Bar]]
"""Reads recorded bars: ``(instrument, period, start_ns, end_ns, limit)``, oldest first."""


class Connection(Protocol):
    """An open subscriber connection as the gateway sees it (a WebSocket stream)."""

    key: ApiKey

    def revoke(self) -> None:
        """End the connection: its key was revoked."""
        ...


@dataclass(frozen=True)
class GatewayOptions:
    """How the gateway treats connections."""

    send_queue: int = 10_000
    """Records a connection may have waiting to be sent before it counts as slow."""
    auth_timeout_s: float = 5.0
    """Seconds a new connection has to send its ``auth`` request."""
    revocation_check_s: float = 0.25
    """How often open connections are checked against revoked keys."""
    requests_per_s: float = 20.0
    """Requests (subscribe, unsubscribe...) a connection may send per second, on average."""
    max_patterns: int = 100
    """Instruments or patterns one subscription may name."""


class Gateway:
    """The state behind ``quoteflow serve``: one per server."""

    def __init__(
        self,
        hub: Hub,
        keys: KeyStore,
        channels: Sequence[str],
        *,
        options: GatewayOptions | None = None,
        audit: AuditLog | None = None,
        bars: BarReader | None = None,
        epoch: str | None = None,
    ) -> None:
        self.hub = hub
        self.keys = keys
        self.channels = tuple(channels)
        self.options = options or GatewayOptions()
        self.audit_log = audit
        self.bars = bars
        self.epoch = epoch or (hub.journal.epoch if hub.journal else secrets.token_hex(6))
        self.authenticator = Authenticator(keys)
        self.limits = ConnectionLimits()
        self.metrics = GatewayMetrics()
        self.connections: set[Connection] = set()
        self._rates: dict[str, MessageRate] = {}

    def knows(self, channel: str) -> bool:
        """Return whether the gateway serves ``channel``."""
        return channel in self.channels

    def rate(self, key: ApiKey) -> MessageRate:
        """Return the message-rate bucket shared by every connection of ``key``."""
        rate = self._rates.get(key.key_id)
        if rate is None:
            rate = self._rates[key.key_id] = MessageRate(key.max_messages_per_s)
        return rate

    def audit(self, event: str, key: ApiKey | None = None, remote: str | None = None,
              **details: Any) -> None:  # fmt: skip
        """Record ``event`` in the audit log, if there is one; count refusals."""
        if event == "refuse":
            self.metrics.refusals.labels(details.get("reason", "unknown")).inc()
        if self.audit_log is not None:
            self.audit_log.record(event, key_id=key.key_id if key else None,
                                  key_name=key.name if key else None, remote=remote,
                                  **details)  # fmt: skip

    async def resume(self, channel: str, after: int, wants: Wants) -> list[Delivery]:
        """Return the wanted records after ``after``, from the lake journal and memory.

        The last step reads memory without awaiting, so the caller can start
        live delivery right after it with nothing missed or repeated. Raises
        :class:`ResumeGapError` when some of them are kept nowhere.
        """
        older: list[Delivery] = []
        while True:
            try:
                recent = self.hub.replay(channel, after, wants)
            except ResumeGapError as gap:
                if self.hub.journal is None:
                    raise
                older += await self.hub.journal.read(channel, after, gap.first - 1, wants)
                after = gap.first - 1
                continue
            self.metrics.resumes.labels("lake" if older else "memory").inc()
            return older + recent

    async def watch_revocations(self) -> None:
        """Close, within ``revocation_check_s``, the connections of keys revoked meanwhile."""
        while True:
            await asyncio.sleep(self.options.revocation_check_s)
            open_keys = {c.key.key_id for c in self.connections}
            if not open_keys:
                continue
            try:
                revoked = await asyncio.to_thread(self.keys.revoked_among, open_keys)
            except (OSError, sqlite3.Error, QuoteflowError):
                log.exception("gateway: checking for revoked keys failed")
                continue
            self.authenticator.forget(revoked)
            for connection in list(self.connections):
                if connection.key.key_id in revoked:
                    connection.revoke()
