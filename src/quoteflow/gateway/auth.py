"""Checking subscribers' API keys without blocking the server.

The scrypt check of :meth:`KeyStore.verify` takes tens of milliseconds by
design, so it runs in a worker thread, and a key that passed once is
recognised afterwards by its SHA-256 digest (kept in memory only). Whether it
has been revoked is looked up again when its last lookup is older than
``recheck_s`` (0.25 s): a revoked key stops working within that time, and a
busy client's requests do not each wait for a database query.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Collection

from quoteflow.gateway.keys import ApiKey, KeyStore

__all__ = ["Authenticator"]


class Authenticator:
    """Check key texts against a :class:`KeyStore`, remembering the keys that passed."""

    def __init__(self, store: KeyStore, *, recheck_s: float = 0.25) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._passed: dict[bytes, tuple[ApiKey, float]] = {}  # key, when last found active

    async def check(self, text: str) -> ApiKey | None:
        """Return the active key ``text`` is, or None for an unknown or revoked key."""
        digest = hashlib.sha256(text.encode()).digest()
        passed = self._passed.get(digest)
        now = time.monotonic()
        if passed is not None:
            key, checked = passed
            if now - checked < self.recheck_s:
                return key
            if await asyncio.to_thread(self.store.revoked_among, [key.key_id]):
                del self._passed[digest]
                return None
            self._passed[digest] = (key, now)
            return key
        key = await asyncio.to_thread(self.store.verify, text)
        if key is not None:
            self._passed[digest] = (key, now)
        return key

    def forget(self, key_ids: Collection[str]) -> None:
        """Forget keys found revoked elsewhere, so that they are refused from now on."""
        if key_ids:
            self._passed = {d: p for d, p in self._passed.items() if p[0].key_id not in key_ids}
