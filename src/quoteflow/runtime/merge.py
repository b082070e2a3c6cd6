"""Merging a stage's input topics by event time, for buses that keep no order across topics.

Kafka keeps each partition in order but says nothing about the order between
the quotes and trades topics: a consumer may read seconds of quotes before the
trades of the same seconds. A stage that reads both (enrichment) must see them
in event time, or its candle watermark runs ahead and the trades arrive late.

:class:`EventTimeMerge` holds the records of one partition number per input
topic and releases, in ``ts_event`` order, those no later than the *horizon*:
the smallest newest ``ts_event`` seen over the inputs. An input that has
delivered nothing for ``idle_s`` seconds (a quiet topic, or one already read to
its end) stops holding the others back. :meth:`EventTimeMerge.drain` releases
everything, at the end of a run. Items are records, or anything with a
``ts_event`` given by ``time_of`` (the runtime merges bus messages).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

__all__ = ["EventTimeMerge"]


class EventTimeMerge:
    """Event-time merge of one partition number across ``topics``."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        idle_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        time_of: Callable[[Any], int] = attrgetter("ts_event"),
    ) -> None:
        self.topics = tuple(topics)
        self.idle_s = idle_s
        self.clock = clock
        self.time_of = time_of
        self._queues: dict[str, deque[Any]] = {t: deque() for t in self.topics}
        self._newest: dict[str, int | None] = dict.fromkeys(self.topics)
        self._heard: dict[str, float] = dict.fromkeys(self.topics, clock())

    def add(self, topic: str, records: Iterable[Any]) -> None:
        """Queue records of ``topic`` (in that topic's order)."""
        queue = self._queues[topic]
        queue.extend(records)
        if queue:
            self._newest[topic] = self.time_of(queue[-1])
        self._heard[topic] = self.clock()

    def _horizon(self) -> float:
        now = self.clock()
        limits = [
            float("-inf") if newest is None else newest
            for topic, newest in self._newest.items()
            if self._queues[topic] or now - self._heard[topic] < self.idle_s
        ]
        return min(limits, default=float("inf"))

    def ready(self) -> list[Any]:
        """Release the queued records up to the horizon, in event-time order."""
        horizon = self._horizon()
        time_of = self.time_of
        return self._release(lambda record: time_of(record) <= horizon)

    def drain(self) -> list[Any]:
        """Release every queued record, in event-time order."""
        return self._release(lambda _record: True)

    def _release(self, due: Callable[[Any], bool]) -> list[Any]:
        time_of = self.time_of
        heads = [
            (time_of(queue[0]), order, topic)
            for order, (topic, queue) in enumerate(self._queues.items())
            if queue and due(queue[0])
        ]
        if len(heads) == 1:  # one input has records due (a quiet topic): no merging
            queue = self._queues[heads[0][2]]
            out = [queue.popleft()]
            while queue and due(queue[0]):
                out.append(queue.popleft())
            return out
        heapq.heapify(heads)
        out = []
        while heads:
            _, order, topic = heapq.heappop(heads)
            queue = self._queues[topic]
            out.append(queue.popleft())
            if queue and due(queue[0]):
                heapq.heappush(heads, (time_of(queue[0]), order, topic))
        return out

    def first_held(self) -> dict[str, Any]:
        """Return the oldest queued item of each topic that has one."""
        return {topic: queue[0] for topic, queue in self._queues.items() if queue}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())
