"""Checking subscribers' API keys without blocking the server.

The scrypt check of :meth:`KeyStore.verify` takes tens of milliseconds by
design, so it runs in a worker thread, once per key text even when many
requests bring a new key at once, and a key that passed once is recognised
afterwards by its SHA-256 digest (kept in memory only). Whether
the keys that passed have been revoked is looked up again, all of them in one
query, when the last lookup is older than ``recheck_s`` (0.25 s): a revoked key
stops working within that time, and busy clients' requests do not each wait
for a database query (nor keep worker threads busy).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Collection

from quoteflow.access.keys import ApiKey, KeyStore

__all__ = ["Authenticator"]


class Authenticator:
    """Check key texts against a :class:`KeyStore`, remembering the keys that passed."""

    def __init__(self, store: KeyStore, *, recheck_s: float = 0.25) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._passed: dict[bytes, ApiKey] = {}
        self._checked_at = time.monotonic()  # when the last revocation lookup started
        self._rechecking: asyncio.Future[None] | None = None
        self._verifying: dict[bytes, asyncio.Future[ApiKey | None]] = {}

    async def check(self, text: str) -> ApiKey | None:
        """Return the active key ``text`` is, or None for an unknown or revoked key."""
        digest = hashlib.sha256(text.encode()).digest()
        if digest in self._passed:
            if time.monotonic() - self._checked_at >= self.recheck_s:
                await self._recheck()
            return self._passed.get(digest)
        verifying = self._verifying.get(digest)
        if verifying is None:
            verifying = self._verifying[digest] = asyncio.ensure_future(self._verify(digest, text))
        return await asyncio.shield(verifying)

    async def _verify(self, digest: bytes, text: str) -> ApiKey | None:
        try:
            key = await asyncio.to_thread(self.store.verify, text)
            if key is not None:
                self._passed[digest] = key
            return key
        finally:
            del self._verifying[digest]

    async def _recheck(self) -> None:
        """Look up revocations of every key that passed, once for all waiting requests."""
        if self._rechecking is None:
            self._rechecking = asyncio.ensure_future(self._look_up_revocations())
        await asyncio.shield(self._rechecking)

    async def _look_up_revocations(self) -> None:
        started = time.monotonic()
        try:
            ids = {key.key_id for key in self._passed.values()}
            self.forget(await asyncio.to_thread(self.store.revoked_among, ids))
            self._checked_at = started
        finally:
            self._rechecking = None

    def forget(self, key_ids: Collection[str]) -> None:
        """Forget keys found revoked elsewhere, so that they are refused from now on."""
        if key_ids:
            self._passed = {d: k for d, k in self._passed.items() if k.key_id not in key_ids}
