"""Topics: the in-memory bus of the embedded mode; the interface a Kafka bus implements.

:func:`open` opens either by URL: ``memory://`` or ``kafka://host:port``. Names
are imported on first use, so reading the bus settings loads no bus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["Bus", "Consumer", "MemoryBus", "MemoryConsumer", "Message", "open"]

if TYPE_CHECKING:
    from quoteflow.bus.base import Bus, Consumer, Message
    from quoteflow.bus.memory import MemoryBus, MemoryConsumer
    from quoteflow.bus.urls import open

__getattr__, __dir__ = lazy_names(__name__, {
    "Bus": "quoteflow.bus.base",
    "Consumer": "quoteflow.bus.base",
    "Message": "quoteflow.bus.base",
    "MemoryBus": "quoteflow.bus.memory",
    "MemoryConsumer": "quoteflow.bus.memory",
    "open": "quoteflow.bus.urls",
})  # fmt: skip
