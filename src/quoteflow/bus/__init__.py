"""Topics: the in-memory bus of the embedded mode; the interface a Kafka bus implements.

:func:`open` opens either by URL: ``memory://`` or ``kafka://host:port``.
"""

from quoteflow.bus.base import Bus, Consumer, Message
from quoteflow.bus.memory import MemoryBus, MemoryConsumer
from quoteflow.bus.urls import open

__all__ = ["Bus", "Consumer", "MemoryBus", "MemoryConsumer", "Message", "open"]
