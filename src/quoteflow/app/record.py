"""Recording a feed into the lake: the one loop that ``lake record`` and ``ingest`` share.

Records, Arrow batches (a chunk's worth at a time, so chunks keep to their
size) and rejected messages (as dead letters: nothing is dropped) go to a
:class:`~quoteflow.lake.LakeWriter` in the order the feed gives them. A resumed
recording skips the records its checkpoint says are durable already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from quoteflow.feeds.base import Feed, Normalized
from quoteflow.lake.writer import LakeWriter

__all__ = ["record_feed"]


def _write(normalized: Normalized, writer: LakeWriter, skip: int) -> int:
    """Write one frame's records past the first ``skip``; return what is left to skip."""
    events = normalized.events
    if skip:
        dropped = min(skip, len(events))
        events, skip = events[dropped:], skip - dropped
    if events:
        writer.add(events)
    for batch in normalized.interleaved.batches if normalized.interleaved else ():
        if skip:
            dropped = min(skip, batch.num_rows)
            batch, skip = batch.slice(dropped), skip - dropped
        for start in range(0, batch.num_rows, writer.chunk_rows):
            writer.add_batch(batch.slice(start, writer.chunk_rows))
    if normalized.rejects:
        writer.add(normalized.rejects)
    return skip


async def record_feed(
    feed: Feed,
    writer: LakeWriter,
    stop: asyncio.Event,
    *,
    skip: int = 0,
    on_frame: Callable[[Normalized], None] | None = None,
) -> None:
    """Record ``feed`` with ``writer`` until the feed ends or ``stop`` is set; then flush.

    The first ``skip`` records are left out (a resumed recording); ``on_frame``
    sees every frame (progress, logging). What ended the feed, if anything did,
    is raised once the buffers are written and the writer is closed.
    """
    writer.offset = skip

    async def record() -> None:
        remaining = skip
        async for normalized in feed.stream():
            if on_frame is not None:
                on_frame(normalized)
            remaining = _write(normalized, writer, remaining)
            writer.tick()

    recording = asyncio.create_task(record())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({recording, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        recording.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await recording
        finally:
            writer.flush()
            writer.close()
