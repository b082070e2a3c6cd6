"""Topics: the in-memory bus of the embedded mode; the interface a Kafka bus implements."""

from quoteflow.bus.base import Bus, Consumer, Message
from quoteflow.bus.memory import MemoryBus, MemoryConsumer

__all__ = ["Bus", "Consumer", "MemoryBus", "MemoryConsumer", "Message"]
