"""The fan-out core of the gateway: sequence numbers, a replay window, bounded queues.

Every record published on a channel (``quotes.enriched``, ``bars.1m``, ...) gets
the channel's next sequence number, is kept in the channel's replay window and
as the latest value of its instrument, and is offered to every subscription
that wants that channel and instrument. A subscription's queue is bounded: the
publisher never waits. A subscription that falls behind is either closed (its
``overflowed`` flag set, the server then closes the connection with a
documented code) or, if it asked for conflation, keeps only the newest record
per channel and instrument until it catches up.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from quoteflow.errors import QuoteflowError

__all__ = ["Delivery", "Hub", "ResumeGapError", "Subscription"]


class ResumeGapError(QuoteflowError):
    """What a client asked to resume from is no longer in the replay window.

    Example message: ``quotes.enriched: resume after 120 asked, the window starts at 5000``.
    """


@dataclass(frozen=True)
class Delivery:
    """One record for a subscriber: its channel, sequence number, instrument and JSON."""

    channel: str
    sequence: int
    instrument: str
    payload: bytes


@dataclass
class Subscription:
    """What one connection wants, and its bounded queue of deliveries."""

    wants: Callable[[str, str], bool]
    capacity: int = 10_000
    conflate: bool = False
    overflowed: bool = False
    _queue: deque[Delivery] = field(default_factory=deque)
    _latest: OrderedDict[tuple[str, str], Delivery] = field(default_factory=OrderedDict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, delivery: Delivery) -> None:
        """Queue ``delivery`` without waiting; on a full queue, conflate or overflow."""
        if self.overflowed:
            return
        if len(self._queue) < self.capacity and not self._latest:
            self._queue.append(delivery)
        elif self.conflate:
            key = (delivery.channel, delivery.instrument)
            self._latest.pop(key, None)
            self._latest[key] = delivery
        else:
            self.overflowed = True
        self._ready.set()

    async def next(self) -> list[Delivery]:
        """Return what is queued (waiting for something); empty once overflowed."""
        while not self._queue and not self._latest and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return []
        taken = list(self._queue)
        self._queue.clear()
        taken.extend(self._latest.values())  # what came while full: the newest of each
        self._latest.clear()
        return taken


class Hub:
    """Channels with sequence numbers, a replay window each, and their subscriptions."""

    def __init__(self, window: int = 100_000) -> None:
        self.window = window
        self._sequence: dict[str, int] = {}
        self._history: dict[str, deque[Delivery]] = {}
        self._latest: dict[str, dict[str, Delivery]] = {}
        self._subscriptions: list[Subscription] = []

    def publish(self, channel: str, instrument: str, payload: bytes) -> Delivery:
        """Give the record its number, keep it, offer it to every subscription wanting it."""
        sequence = self._sequence.get(channel, 0) + 1
        self._sequence[channel] = sequence
        delivery = Delivery(channel, sequence, instrument, payload)
        history = self._history.get(channel)
        if history is None:
            history = self._history[channel] = deque(maxlen=self.window)
        history.append(delivery)
        self._latest.setdefault(channel, {})[instrument] = delivery
        for subscription in self._subscriptions:
            if subscription.wants(channel, instrument):
                subscription.offer(delivery)
        return delivery

    def subscribe(self, subscription: Subscription) -> None:
        """Start offering new records to ``subscription``."""
        self._subscriptions.append(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop offering records to ``subscription``."""
        self._subscriptions.remove(subscription)

    def snapshot(self, channel: str, wants: Callable[[str, str], bool]) -> list[Delivery]:
        """Return the latest record of every wanted instrument on ``channel``, by sequence."""
        latest = self._latest.get(channel, {}).values()
        return sorted((d for d in latest if wants(channel, d.instrument)),
                      key=lambda d: d.sequence)  # fmt: skip

    def replay(
        self, channel: str, after: int, wants: Callable[[str, str], bool]
    ) -> Iterable[Delivery]:
        """Return the wanted records of ``channel`` numbered after ``after``.

        Raises :class:`ResumeGapError` when records after ``after`` have left the window.
        """
        history = self._history.get(channel, deque())
        first = history[0].sequence if history else self._sequence.get(channel, 0) + 1
        if after + 1 < first:
            raise ResumeGapError(
                f"{channel}: resume after {after} asked, the window starts at {first}"
            )
        return [d for d in history if d.sequence > after and wants(channel, d.instrument)]

    def sequence(self, channel: str) -> int:
        """Return the sequence number of the channel's last record (0 before any)."""
        return self._sequence.get(channel, 0)
