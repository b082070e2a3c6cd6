import json
from pathlib import Path

import pytest

from quoteflow.bus.kafka.broker import KafkaBroker

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VECTORS = FIXTURES / "vectors"


def load_vector(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


def pytest_configure(config: pytest.Config) -> None:
    """Compile the matching loop once, before any worker or server process needs it.

    numba caches it on disk; without this every process of a fresh checkout that
    starts before the cache exists compiles it itself, all at once.
    """
    if not hasattr(config, "workerinput"):
        from quoteflow.exchange.engine import Engine

        Engine({})


def _report_start(broker: KafkaBroker) -> None:
    """Put the broker's start-up time into the test log (shown with -rP, -s or on failure)."""
    print(f"Apache Kafka broker at {broker.address} started in {broker.started_s:.1f} s")


@pytest.fixture(scope="session")
def kafka_broker():
    """An Apache Kafka broker (KRaft, one node) shared by this worker's session: host:port.

    A broker that cannot start fails the tests that need it, saying why: none is skipped.
    """
    with KafkaBroker() as broker:
        _report_start(broker)
        yield broker.address


@pytest.fixture
def own_kafka_broker():
    """An Apache Kafka broker for one test only, for tests that need topics nobody else has."""
    with KafkaBroker() as broker:
        _report_start(broker)
        yield broker.address


class EventsFeed:
    """A feed that yields ``events`` in batches of ``size``, as fast as they are taken."""

    name = "events"

    def __init__(self, events, size: int = 200) -> None:
        self.events = events
        self.size = size

    async def stream(self):
        from quoteflow.feeds.base import Normalized

        for start in range(0, len(self.events), self.size):
            yield Normalized(self.events[start : start + self.size])
