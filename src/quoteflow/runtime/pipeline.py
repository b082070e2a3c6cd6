"""The embedded runtime: feeds -> topics -> stages -> topics -> sinks, as asyncio tasks.

Feeds yield normalized batches; the pipeline publishes each record to the topic
named by its type (keyed by instrument) and each rejected message to
``dead_letters``. Stages run an :class:`Operator` over batches of one partition
with that partition's state, and publish what it returns. Sinks write what
they read. On stop (or when every feed has ended) the pipeline stops the feeds,
waits until every stage and sink has committed everything, then closes sinks,
which flush.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from operator import attrgetter
from typing import Any, Protocol

import pyarrow as pa

from quoteflow.bus.base import (
    Bus,
    Consumer,
    Message,
    PartitionCommit,
    StageSession,
    in_send_order,
    send_in_order,
)
from quoteflow.events import DeadLetter, Event, batch_type, from_batch
from quoteflow.feeds.base import Feed, Normalized
from quoteflow.runtime.merge import EventTimeMerge
from quoteflow.sinks.base import Sink

__all__ = ["Operator", "Pipeline", "Stage", "install_stop_signals"]

_POLL_TIMEOUT_S = 0.05
_DRAIN_CHECK_S = 0.01


class Operator(Protocol):
    """Stateful logic that does not know its transport: ``(batch, state) -> (outputs, state)``.

    ``batch`` holds records of one partition in offset order; ``outputs`` are
    ``(topic, record)`` pairs, where a record may be a dead letter; a record is
    keyed by its ``instrument``. The same
    operator runs embedded, over Kafka and in a backtest. An operator that holds
    open windows may also define ``flush(state) -> outputs``; the pipeline calls
    it for every partition when it stops, before the sinks close.
    """

    def initial_state(self) -> Any:
        """Return the state of a partition that has seen nothing yet."""
        ...

    def process(
        self, batch: Sequence[Event], state: Any
    ) -> tuple[list[tuple[str, Event | DeadLetter]], Any]:
        """Process one batch and return the outputs and the new state."""
        ...


@dataclass(frozen=True)
class Stage:
    """An operator wired to its input topics; its consumer group is ``stage:<name>``."""

    name: str
    inputs: tuple[str, ...]
    operator: Operator


def install_stop_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM, so the pipeline drains and exits cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


class Pipeline:
    """Run feeds, stages and sinks over one bus until stopped or until the feeds end.

    ``published`` counts the records sent to each topic, dead letters included.
    """

    def __init__(
        self,
        bus: Bus,
        feeds: Sequence[Feed],
        stages: Sequence[Stage] = (),
        sinks: Sequence[Sink] = (),
        *,
        max_batch: int = 1000,
    ) -> None:
        self.bus = bus
        self.feeds = tuple(feeds)
        self.stages = tuple(stages)
        self.sinks = tuple(sinks)
        self.max_batch = max_batch
        self.published: Counter[str] = Counter()
        self._groups: list[str] = []
        self._states: dict[str, dict[int, Any]] = {}
        self._merges: dict[str, dict[int, EventTimeMerge]] = {}
        self._sessions: dict[str, StageSession] = {}
        self._rounds: dict[str, asyncio.Lock] = {}  # one round of a stage at a time

    async def publish(self, normalized: Normalized) -> None:
        """Send records to their type's topic and rejects to ``dead_letters``.

        Interleaved batches go out as one stream (see ``Bus.send_interleaved``).
        """
        step = normalized.interleaved
        if step is not None:
            parts = [(_batch_topic(batch), batch) for batch in step.batches]
            await self.bus.send_interleaved(parts, step.order)
            for topic, batch in parts:
                self.published[topic] += batch.num_rows
        keyed = [(event.TYPE, event.instrument, event) for event in normalized.events]
        keyed.extend((DeadLetter.TOPIC, dead.provider, dead) for dead in normalized.rejects)
        sent = await send_in_order(self.bus, keyed)
        self.published.update(sent)

    async def _ingest(self, feed: Feed) -> None:
        async for normalized in feed.stream():
            await self.publish(normalized)

    def _merging(self, stage: Stage) -> bool:
        """Return whether ``stage``'s inputs need an event-time merge on this bus."""
        return len(stage.inputs) > 1 and not self.bus.ordered_across_topics

    async def _run_stage(self, stage: Stage, session: StageSession, done: asyncio.Event) -> None:
        while not done.is_set():
            messages = await session.poll(self.max_batch, _POLL_TIMEOUT_S)
            async with self._rounds[stage.name]:
                await self._round(stage, session, messages)
        if session.keeps_state:
            async with self._rounds[stage.name]:
                states = self._states[stage.name]
                await self._commit(stage, session, states, {p: [] for p in states},
                                   store_state=True)  # fmt: skip

    async def _round(self, stage: Stage, session: StageSession, messages: list[Message]) -> None:
        """Take one poll's records: restore and drop partitions, merge, process, commit."""
        states = self._states[stage.name]
        merges = self._merges[stage.name]
        for partition in session.revoked():
            states.pop(partition, None)
            merges.pop(partition, None)
        for partition, snapshot in session.assigned().items():
            states[partition] = (
                stage.operator.initial_state()  # type: ignore[attr-defined]
                if snapshot is None
                else stage.operator.restore(snapshot)  # type: ignore[attr-defined]
            )
        by_partition: dict[int, list[Message]] = defaultdict(list)
        if self._merging(stage):
            for (topic, partition), run in groupby(messages, key=attrgetter("topic", "partition")):
                merge = merges.get(partition)
                if merge is None:
                    merge = merges[partition] = EventTimeMerge(
                        session.topics, time_of=_message_time
                    )
                merge.add(topic, run)
                by_partition.setdefault(partition, [])
            for partition, merge in merges.items():
                ready = merge.ready()
                if ready:
                    by_partition[partition].extend(ready)
        else:
            for message in messages:
                by_partition[message.partition].append(message)
        if session.keeps_state:  # the session may store the state of idle partitions too
            for partition in states:
                by_partition.setdefault(partition, [])
        if by_partition:
            await self._commit(stage, session, states, by_partition)

    async def _commit(
        self,
        stage: Stage,
        session: StageSession,
        states: dict[int, Any],
        by_partition: dict[int, list[Message]],
        *,
        flush: bool = False,
        store_state: bool = False,
    ) -> None:
        """Run the operator over each partition's records; publish and commit per partition.

        With ``flush`` the operator also emits what its open windows hold; with
        ``store_state`` the session stores the states now.
        """
        operator = stage.operator
        commits: dict[int, PartitionCommit] = {}
        for partition, messages in by_partition.items():
            state = states.get(partition)
            if state is None:
                state = operator.initial_state()
            outputs: list[tuple[str, Event | DeadLetter]] = []
            if messages:
                outputs, state = operator.process(in_send_order(messages), state)
            if flush and hasattr(operator, "flush"):
                outputs.extend(operator.flush(state))  # type: ignore[attr-defined]
            states[partition] = state
            merge = self._merges[stage.name].get(partition)
            held = {t: m.offset for t, m in merge.first_held().items()} if merge else {}
            commit = PartitionCommit(_keyed(outputs, batches=self.bus.carries_batches),
                                     held=held)  # fmt: skip
            if session.keeps_state:
                commit.snapshot = partial(_snapshot, stage, state)
            commits[partition] = commit
            for topic, _, value in commit.outputs:
                self.published[topic] += value.num_rows if isinstance(value, pa.RecordBatch) else 1
        await session.commit(commits, store_state=store_state)

    async def _run_sink(self, sink: Sink, consumer: Consumer, done: asyncio.Event) -> None:
        durable = getattr(sink, "durable_positions", None) if self.bus.durable else None
        try:
            while not done.is_set():
                messages = await consumer.poll(self.max_batch, _POLL_TIMEOUT_S)
                if messages:
                    await sink.write(messages)
                await sink.tick()
                if durable is not None:
                    await consumer.commit(durable())
                elif messages:
                    await consumer.commit()
        finally:
            await sink.close()
        await consumer.commit()

    def lag(self) -> int:
        """Return the records that stages and sinks have not committed yet."""
        return sum(self.bus.lag(group) for group in self._groups)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set or every feed has ended, then drain and flush.

        A pipeline without feeds (a stage process reading a shared bus) runs until
        ``stop``. An exception in a stage or sink stops the pipeline and is raised here.
        """
        stop = stop or asyncio.Event()
        done = asyncio.Event()
        self._groups = []
        workers: list[asyncio.Task[None]] = []
        consumers: list[Consumer | StageSession] = []
        self._sessions = {}
        for stage in self.stages:
            group = f"stage:{stage.name}"
            session = self._sessions[stage.name] = self.bus.stage_session(group, stage.inputs)
            self._rounds[stage.name] = asyncio.Lock()
            self._states[stage.name] = {}
            self._merges[stage.name] = {}
            consumers.append(session)
            self._groups.append(group)
            workers.append(asyncio.create_task(self._run_stage(stage, session, done)))
        for sink in self.sinks:
            group = f"sink:{sink.name}"
            consumers.append(self.bus.subscribe(group, sink.topics))
            self._groups.append(group)
            workers.append(asyncio.create_task(self._run_sink(sink, consumers[-1], done)))
        feeds = [asyncio.create_task(self._ingest(feed)) for feed in self.feeds]
        try:
            await self._until_feeds_end_or_stop(feeds, workers, stop)
            await self._stop(feeds)
            await self._drain(workers)
            await self._flush_stages()
            await self._drain(workers)
        except BaseException:
            await self._stop(feeds, workers, done, consumers)
            raise
        for result in await self._stop(feeds, workers, done, consumers):
            if isinstance(result, Exception):
                raise result

    async def _flush_stages(self) -> None:
        """Process what the merges hold and let operators emit their open windows.

        Only a pipeline with feeds does this: it saw its whole input. A stage
        process on a shared bus leaves held records uncommitted and open windows
        in its state, for the next owner of the partitions.
        """
        if not self.feeds:
            return
        for stage in self.stages:
            async with self._rounds[stage.name]:
                merges = self._merges.get(stage.name, {})
                states = self._states[stage.name]
                held = {partition: merge.drain() for partition, merge in merges.items()}
                held.update({p: [] for p in states if p not in held})
                if held:
                    await self._commit(stage, self._sessions[stage.name], states, held, flush=True)

    @staticmethod
    async def _stop(
        feeds: list[asyncio.Task[None]],
        workers: Sequence[asyncio.Task[None]] = (),
        done: asyncio.Event | None = None,
        consumers: Sequence[Consumer | StageSession] = (),
    ) -> list[Any]:
        """Cancel the feeds, then let the workers finish, then leave the groups."""
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)
        if done is not None:
            done.set()
        results = await asyncio.gather(*workers, return_exceptions=True)
        for consumer in consumers:
            await consumer.close()
        return results

    @staticmethod
    async def _until_feeds_end_or_stop(
        feeds: list[asyncio.Task[None]], workers: list[asyncio.Task[None]], stop: asyncio.Event
    ) -> None:
        stopper = asyncio.create_task(stop.wait())
        watched = {*feeds, *workers, stopper}
        try:
            while not feeds or any(not task.done() for task in feeds):
                finished, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    if task is stopper:
                        return
                    if task in workers:
                        raise task.exception() or RuntimeError("a stage or sink stopped early")
                    if task.exception():
                        raise task.exception()
                watched -= finished
        finally:
            stopper.cancel()

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        while self.lag():
            for worker in workers:
                if worker.done():
                    raise worker.exception() or RuntimeError("a stage or sink stopped early")
            await asyncio.sleep(_DRAIN_CHECK_S)


def _key(record: Any) -> str:
    """Return a record's key: its instrument (dead letters: their provider)."""
    return record.provider if isinstance(record, DeadLetter) else record.instrument


def _keyed(routed: list[tuple[str, Any]], *, batches: bool) -> list[tuple[str, str, Any]]:
    """Key ``(topic, record)`` pairs (see :func:`_key`).

    Arrow batches stay whole with ``batches`` (the bus splits them by
    instrument), else they go out as their records.
    """
    keyed: list[tuple[str, str, Any]] = []
    for topic, value in routed:
        if isinstance(value, pa.RecordBatch):
            if batches:
                keyed.append((topic, "", value))
            else:
                keyed.extend((topic, _key(record), record) for record in from_batch(value))
        else:
            keyed.append((topic, _key(value), value))
    return keyed


def _batch_topic(batch: pa.RecordBatch) -> str:
    kind = batch_type(batch.schema)
    if kind is None:
        raise TypeError("a feed's Arrow batch must name its record type in its schema")
    return kind.TYPE


def _message_time(message: Message) -> int:
    return message.value.ts_event


def _snapshot(stage: Stage, state: Any) -> bytes:
    snapshot = getattr(stage.operator, "snapshot", None)
    if snapshot is None:
        raise TypeError(
            f"stage {stage.name!r}: its operator has no snapshot/restore, so its state "
            "cannot move between processes; it cannot run on this bus"
        )
    return snapshot(state)
