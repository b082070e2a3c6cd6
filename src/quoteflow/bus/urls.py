"""Opening a bus by its URL: ``memory://`` (embedded) or ``kafka://host:port[,host:port]``."""

from __future__ import annotations

from urllib.parse import urlparse

from quoteflow.bus.base import Bus
from quoteflow.bus.config import BusSettings
from quoteflow.errors import ConfigError

__all__ = ["open"]


def open(url: str, settings: BusSettings | None = None) -> Bus:
    """Return the bus at ``url`` set up as ``settings`` say (the ``[bus]`` section).

    ``memory://`` is the embedded bus of one process; ``kafka://host:port`` a
    Kafka cluster (its client is loaded only then). Raises
    :class:`~quoteflow.errors.ConfigError` for any other URL.
    """
    settings = settings or BusSettings()
    parsed = urlparse(url)
    if parsed.scheme == "memory" and not parsed.netloc:
        from quoteflow.bus.memory import MemoryBus

        return MemoryBus(capacity=settings.capacity)
    if parsed.scheme == "kafka" and parsed.netloc:
        from quoteflow.bus.codec import TopicCodec
        from quoteflow.bus.kafka import KafkaBus

        return KafkaBus(
            parsed.netloc,
            partitions=settings.partitions,
            session_timeout_ms=settings.session_timeout_ms,
            fetch_wait_ms=settings.fetch_wait_ms,
            commit_interval_ms=settings.commit_interval_ms,
            linger_ms=settings.linger_ms,
            stage_commit=settings.stage_commit,
            codec=TopicCodec(settings.customer_topics),
            client=settings.kafka_client(),
        )
    raise ConfigError(f"bus {url!r}: use memory:// or kafka://host:port[,host:port]")
