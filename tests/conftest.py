import json
from pathlib import Path

import pytest

from tests.broker import tansu_broker

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


@pytest.fixture(scope="session")
def kafka_broker():
    """A Tansu broker shared by the test session: host:port."""
    with tansu_broker() as address:
        yield address


@pytest.fixture
def own_kafka_broker():
    """A Tansu broker for one test only, for tests that need topics and groups nobody else has."""
    with tansu_broker() as address:
        yield address


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
