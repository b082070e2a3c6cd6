"""Group commit: the answers to many commands wait for one flush of the log to disk.

With ``[exchange] fsync = true`` a command is committed to the log without
waiting for the disk; what follows from it (the trader's answer, the events of
its WebSocket watches, the ``orders`` topic) is held until a flush that covers
it. One flush runs at a time, in a thread, and covers every command logged
before it started, so under load one flush answers many orders: the log is on
disk before anyone hears of a command, at a fraction of a flush per order. A
failed flush stops the exchange (every later answer is an error): the engine
has applied commands that may not be on disk.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from quoteflow.exchange.errors import LogWriteError

__all__ = ["GroupCommit"]

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Hold what each logged command releases until ``sync`` has made it durable.

    ``sync`` makes everything logged so far durable (it runs in a thread);
    ``release`` gets each held item, in sequence order, once it is.
    """

    def __init__(self, sync: Callable[[], None], release: Callable[[T], None]) -> None:
        self._sync = sync
        self._release = release
        self.durable = 0
        """The last sequence number known to be on disk."""
        self.failed: LogWriteError | None = None
        self._logged = 0
        self._held: deque[tuple[int, T]] = deque()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap by sequence
        self._order = itertools.count()
        self._wanted = asyncio.Event()

    def hold(self, sequence: int, item: T) -> None:
        """Keep ``item`` until command ``sequence`` is durable."""
        self._check()
        self._held.append((sequence, item))
        self._logged = sequence
        self._wanted.set()

    async def until_durable(self, sequence: int) -> None:
        """Return once command ``sequence`` is on disk; LogWriteError if it cannot be."""
        self._check()
        if sequence <= self.durable:
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (sequence, next(self._order), waiter))
        await waiter

    def _check(self) -> None:
        if self.failed is not None:
            raise self.failed

    async def run(self) -> None:
        """Flush whenever something waits for the disk, until cancelled (or a flush fails)."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            target = self._logged
            try:
                await asyncio.to_thread(self._sync)
            except OSError as error:
                self.failed = LogWriteError(f"the command log could not be written to disk: "
                                            f"{error}; restart the exchange")  # fmt: skip
                for _, _, waiter in self._waiting:
                    if not waiter.done():
                        waiter.set_exception(self.failed)
                self._waiting.clear()
                raise self.failed from error
            self.durable = target
            while self._held and self._held[0][0] <= target:
                self._release(self._held.popleft()[1])
            while self._waiting and self._waiting[0][0] <= target:
                waiter = heapq.heappop(self._waiting)[2]
                if not waiter.done():
                    waiter.set_result(None)
