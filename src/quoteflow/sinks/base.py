"""The one base of every sink: where records leave the pipeline."""

from __future__ import annotations

from quoteflow.bus.base import Message

__all__ = ["Sink"]


class Sink:
    """Where records leave the pipeline: a file, a screen, the lake, subscribers.

    A sink names its consumer group (``sink:<name>``) and the topics it reads.
    The pipeline hands it every poll's messages (:meth:`write`), calls
    :meth:`tick` after every poll, records or not, so a sink that flushes by
    age does so when its input goes quiet too, and :meth:`close` once at the
    end. A sink that makes its records durable later than :meth:`write`
    returns may define ``durable_positions()``: the pipeline then commits only
    the positions it returns.
    """

    name: str
    topics: tuple[str, ...]

    async def write(self, messages: list[Message]) -> None:
        """Take a poll's messages; may buffer them."""
        raise NotImplementedError

    async def tick(self) -> None:
        """Flush what is due by age; nothing by default."""

    async def close(self) -> None:
        """Flush everything buffered and release resources; nothing by default."""
