"""Checking subscribers' API keys without blocking the server.

The scrypt check of :meth:`KeyStore.verify` takes tens of milliseconds by
design, so it runs in a worker thread, and a key that passed once is
recognised afterwards by its SHA-256 digest (kept in memory only) with a cheap
revocation lookup.
"""

from __future__ import annotations

import asyncio
import hashlib

from quoteflow.gateway.keys import ApiKey, KeyStore

__all__ = ["Authenticator"]


class Authenticator:
    """Check key texts against a :class:`KeyStore`, remembering the keys that passed."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._passed: dict[bytes, ApiKey] = {}

    async def check(self, text: str) -> ApiKey | None:
        """Return the active key ``text`` is, or None for an unknown or revoked key."""
        digest = hashlib.sha256(text.encode()).digest()
        key = self._passed.get(digest)
        if key is not None:
            if await asyncio.to_thread(self.store.revoked_among, [key.key_id]):
                del self._passed[digest]
                return None
            return key
        key = await asyncio.to_thread(self.store.verify, text)
        if key is not None:
            self._passed[digest] = key
        return key
