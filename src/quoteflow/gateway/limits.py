"""Per-key limits: open connections at once, and messages per second (a token bucket)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

__all__ = ["ConnectionLimits", "MessageRate"]


class MessageRate:
    """A token bucket: ``rate_per_s`` messages a second on average, bursts up to ``burst``.

    >>> now = [0.0]
    >>> rate = MessageRate(10.0, burst=5, clock=lambda: now[0])
    >>> rate.take(5), rate.take(1)
    (True, False)
    >>> now[0] = 0.5
    >>> rate.take(5)
    True
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else rate_per_s
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now

    def take(self, count: int = 1) -> bool:
        """Spend ``count`` messages if the bucket holds them; return whether it did."""
        self._refill()
        if self._tokens < count:
            return False
        self._tokens -= count
        return True

    def spend(self, count: int) -> float:
        """Spend ``count`` messages, going into debt if need be; return the seconds to wait.

        A sender that waits that long before sending more keeps to the rate.

        >>> rate = MessageRate(100.0, clock=lambda: 0.0)
        >>> rate.spend(50), rate.spend(100)
        (0.0, 0.5)
        """
        self._refill()
        self._tokens -= count
        return max(0.0, -self._tokens / self.rate_per_s)


class ConnectionLimits:
    """Open connections per key id, each key with its own limit."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def acquire(self, key_id: str, limit: int) -> bool:
        """Count a new connection of ``key_id`` if it stays within ``limit``; return whether."""
        if self._open[key_id] >= limit:
            return False
        self._open[key_id] += 1
        return True

    def release(self, key_id: str) -> None:
        """Forget one connection of ``key_id``."""
        if self._open[key_id] > 0:
            self._open[key_id] -= 1

    def open(self, key_id: str) -> int:
        """Return the open connections of ``key_id``."""
        return self._open[key_id]
