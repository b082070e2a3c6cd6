"""The fan-out core of the gateway: sequence numbers, a replay window, bounded queues.

Records are published on a channel (``quotes.enriched``, ``bars.1m``, ...) in
batches. Each record gets the channel's next sequence number, is kept in the
channel's replay window and as the latest value of its instrument. Each
subscription is offered the part of the batch it wants (all of it, sharing the
batch's encoded JSON, or the records of its instruments; which subscriptions
want an instrument is asked once and kept) into a bounded queue: the publisher
never waits. A subscription that falls behind is either closed (its
``overflow`` event set; the server then closes the connection with a documented
code) or, if it asked for conflation, keeps only the newest record per channel
and instrument until it catches up.

Records that leave the window go to a :class:`~quoteflow.gateway.journal.Journal`
when there is one, so that a client can resume from further back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from quoteflow.gateway.delivery import Delivery, Wants
from quoteflow.gateway.errors import ResumeGapError
from quoteflow.gateway.journal import Journal

__all__ = ["Hub", "Piece", "Subscription"]

Encode = Callable[[str, int, Any], bytes]
"""``encode(channel, sequence, value)``: the JSON of one record as subscribers get it."""


class Piece:
    """Records published together (or picked from such a batch), with their joined JSON."""

    __slots__ = ("_body", "deliveries")

    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        """The records' JSON separated by commas: the inside of a JSON array."""
        if self._body is None:
            self._body = b",".join(d.payload for d in self.deliveries)
        return self._body

    def __len__(self) -> int:
        return len(self.deliveries)


class Subscription:
    """What one connection wants, and its bounded queue of records and control messages.

    The hub asks ``wants`` once per channel and instrument; tell it with
    :meth:`Hub.interests_changed` when this subscription's answers change. Control messages
    (``bytes``) and replayed records go in with :meth:`put`, never refused.
    """

    def __init__(self, wants: Wants, *, capacity: int = 10_000, conflate: bool = False) -> None:
        self.wants = wants
        self.capacity = capacity
        self.conflate = conflate
        self.overflow = asyncio.Event()
        self.overflowed = False
        """Whether the queue overflowed (without conflation): the connection must end."""
        self.queued = 0
        self._items: deque[Piece | bytes] = deque()
        self._latest: OrderedDict[tuple[str, str], Delivery] = OrderedDict()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, part: Piece) -> None:
        """Queue ``part`` without waiting; when full, conflate or overflow."""
        if self.overflowed:
            return
        size = len(part.deliveries)
        if self.queued + size <= self.capacity and not self._latest:
            self._items.append(part)
            self.queued += size
        elif self.conflate:
            for delivery in part.deliveries:
                key = (delivery.channel, delivery.instrument)
                self._latest.pop(key, None)
                self._latest[key] = delivery
        else:
            self.overflowed = True
            self.overflow.set()
        self._wake()

    def put(self, item: Piece | bytes) -> None:
        """Queue a control message or replayed records, whatever the capacity."""
        self._items.append(item)
        if isinstance(item, Piece):
            self.queued += len(item.deliveries)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> list[Piece | bytes]:
        """Return what is queued, in order (waiting for something); empty once overflowed."""
        while not self._items and not self._latest and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self.overflowed:
            return []
        taken = list(self._items)
        self._items.clear()
        self.queued = 0
        if self._latest:  # what came while full: the newest of each instrument
            taken.append(Piece(list(self._latest.values())))
            self._latest.clear()
        return taken


def _as_is(channel: str, sequence: int, value: Any) -> bytes:
    return value


class Hub:
    """Channels with sequence numbers, a replay window each, and their subscriptions."""

    def __init__(self, window: int = 100_000, journal: Journal | None = None) -> None:
        self.window = window
        self.journal = journal
        self._sequence: dict[str, int] = {}
        self._history: dict[str, deque[Delivery]] = {}
        self._latest: dict[str, dict[str, Delivery]] = {}
        self._subscriptions: list[Subscription] = []
        self._wanting: dict[str, dict[str, tuple[Subscription, ...]]] = {}

    def publish(
        self, channel: str, records: Sequence[tuple[str, Any]], encode: Encode = _as_is
    ) -> Piece:
        """Give ``(instrument, value)`` records their numbers, keep them, offer them to all."""
        first = self._sequence.get(channel, 0) + 1
        deliveries = [
            Delivery(channel, sequence, instrument, encode(channel, sequence, value))
            for sequence, (instrument, value) in enumerate(records, start=first)
        ]
        self._sequence[channel] = first + len(deliveries) - 1
        history = self._history.get(channel)
        if history is None:
            history = self._history[channel] = deque()
        history.extend(deliveries)
        if len(history) > self.window:
            evicted = [history.popleft() for _ in range(len(history) - self.window)]
            if self.journal is not None:
                self.journal.keep(channel, evicted)
        latest = self._latest.setdefault(channel, {})
        for delivery in deliveries:
            latest[delivery.instrument] = delivery
        piece = Piece(deliveries)
        wanting = self._wanting.setdefault(channel, {})
        parts: dict[Subscription, list[Delivery]] = {}
        for delivery in deliveries:
            subscriptions = wanting.get(delivery.instrument)
            if subscriptions is None:
                subscriptions = wanting[delivery.instrument] = tuple(
                    s for s in self._subscriptions if s.wants(channel, delivery.instrument)
                )
            for subscription in subscriptions:
                part = parts.get(subscription)
                if part is None:
                    parts[subscription] = [delivery]
                else:
                    part.append(delivery)
        for subscription, part in parts.items():
            subscription.offer(piece if len(part) == len(deliveries) else Piece(part))
        return piece

    def subscribe(self, subscription: Subscription) -> None:
        """Start offering new records to ``subscription``."""
        self._subscriptions.append(subscription)
        self.interests_changed(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop offering records to ``subscription``."""
        self._subscriptions.remove(subscription)
        for wanting in self._wanting.values():
            for instrument, subscriptions in wanting.items():
                if subscription in subscriptions:
                    wanting[instrument] = tuple(s for s in subscriptions if s is not subscription)

    def interests_changed(self, subscription: Subscription) -> None:
        """Ask ``subscription``'s ``wants`` again: it wants other records now.

        Only its own answers are asked again, for the instruments seen so far, so
        one subscriber changing its mind often costs the others nothing.
        """
        for channel, wanting in self._wanting.items():
            for instrument, subscriptions in wanting.items():
                wanted = subscription.wants(channel, instrument)
                if wanted == (subscription in subscriptions):
                    continue
                if wanted:
                    wanting[instrument] = (*subscriptions, subscription)
                else:
                    wanting[instrument] = tuple(s for s in subscriptions if s is not subscription)

    def snapshot(self, channel: str, wants: Wants) -> list[Delivery]:
        """Return the latest record of every wanted instrument on ``channel``, by sequence."""
        latest = self._latest.get(channel, {}).values()
        return sorted((d for d in latest if wants(channel, d.instrument)),
                      key=lambda d: d.sequence)  # fmt: skip

    def latest(self, channel: str, instrument: str) -> Delivery | None:
        """Return the latest record of ``instrument`` on ``channel``, if any."""
        return self._latest.get(channel, {}).get(instrument)

    def instruments(self) -> dict[str, list[str]]:
        """Return each instrument seen with the channels it has records on."""
        seen: dict[str, list[str]] = {}
        for channel, latest in sorted(self._latest.items()):
            for instrument in latest:
                seen.setdefault(instrument, []).append(channel)
        return dict(sorted(seen.items()))

    def replay(self, channel: str, after: int, wants: Wants) -> list[Delivery]:
        """Return the wanted records of ``channel`` numbered after ``after``, from memory.

        Memory is the replay window and what the journal has not yet written.
        Raises :class:`ResumeGapError` when records after ``after`` are no longer
        in memory (the journal may still have them: :meth:`Journal.read`).
        """
        kept: Iterable[Delivery] = self._history.get(channel, ())
        if self.journal is not None:
            kept = [*self.journal.memory(channel), *kept]
        kept = list(kept)
        first = kept[0].sequence if kept else self.sequence(channel) + 1
        if after + 1 < first:
            raise ResumeGapError.missing(channel, after, first)
        return [d for d in kept if d.sequence > after and wants(channel, d.instrument)]

    def sequence(self, channel: str) -> int:
        """Return the sequence number of the channel's last record (0 before any)."""
        return self._sequence.get(channel, 0)

    @property
    def channels(self) -> dict[str, int]:
        """Return each channel with the sequence number of its last record."""
        return dict(sorted(self._sequence.items()))
