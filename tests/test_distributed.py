"""Enrichment across processes on a real broker: kill -9 and scaling lose and repeat nothing.

A replay is ingested at ten times real time while enrich processes come and go.
The enriched topics, read the way a consumer reads them (read_committed, with
repeated sequence numbers dropped), must hold exactly what the enrichment job
gives in one process over the same events: no gap, no duplicate, and the same
indicator values, which only holds if each partition's state moved with it.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import msgspec
import pytest

from quoteflow.bus.kafka import KafkaBus
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import Quote, Trade
from quoteflow.feeds.synthetic import SyntheticMarket
from quoteflow.formats.records import write_records
from tests.enrich import reference

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
PERIOD, INDICATORS = "5s", "sma:3,rsi:2"
ENV = {
    **os.environ,
    "QUOTEFLOW_BUS__SESSION_TIMEOUT_MS": "6000",
    "QUOTEFLOW_ENRICH__PERIOD": PERIOD,
    "QUOTEFLOW_ENRICH__INDICATORS": INDICATORS,
}
OUTPUTS = ("quotes.enriched", "trades.enriched", f"bars.{PERIOD}", "alerts", "dead_letters")
SPEED = 10.0


def market(seconds: int) -> list:
    events = SyntheticMarket([f"S{i}" for i in range(8)], start=date(2024, 4, 1), rate_per_s=1.5,
                             trade_probability=0.5, seed=11).advance(seconds * 10**9)  # fmt: skip
    return [e for e in events if isinstance(e, Quote | Trade)]


def expected_outputs(events: list) -> dict[str, list[bytes]]:
    """The job's outputs in one process, in event-time order (quotes before trades on ties)."""
    job = Enricher(EnrichSettings(period=PERIOD, indicators=INDICATORS), PreviousCloses({}))
    ordered = sorted(events, key=lambda e: (e.ts_event, isinstance(e, Trade)))
    outputs, _ = job.process(ordered, job.initial_state())
    return by_topic((topic, r) for topic, rs in reference.by_topic(outputs).items() for r in rs)


def by_topic(pairs) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for topic, record in pairs:
        grouped.setdefault(topic, []).append(msgspec.msgpack.encode(record))
    return {topic: sorted(records) for topic, records in grouped.items()}


def write_replay(tmp_path: Path, events: list) -> list[str]:
    files = [tmp_path / "quotes.parquet", tmp_path / "trades.parquet"]
    write_records(files[0], [e for e in events if isinstance(e, Quote)])
    write_records(files[1], [e for e in events if isinstance(e, Trade)])
    return [arg for f in files for arg in ("--replay", str(f))]


class Stage:
    """A ``quoteflow run`` process whose log lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([QUOTEFLOW, "run", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout_s: float = 60) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.1)
        return False

    def finish(self, timeout_s: float = 300) -> None:
        """Wait for the process to end by itself (a replay that ran out)."""
        self.proc.wait(timeout=timeout_s)
        self.stop()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self._reader.join(timeout=10)
        assert self.proc.returncode == 0, "".join(self.lines[-30:])


def stop_all(*stages: Stage) -> None:
    """Stop every stage, even when one of them fails to stop cleanly; then report it."""
    failures = []
    for stage in stages:
        try:
            stage.stop()
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            stage.proc.kill()
            failures.append(exc)
    if failures:
        raise failures[0]


async def read_outputs(broker: str, expected: dict[str, list[bytes]], timeout_s: float):
    """Read the output topics as a customer would until they hold as many records as expected."""
    bus = KafkaBus(broker, session_timeout_ms=6000)
    consumer = bus.subscribe("reader", OUTPUTS)
    want = sum(len(records) for records in expected.values())
    pairs = []
    deadline = time.monotonic() + timeout_s
    while len(pairs) < want and time.monotonic() < deadline:
        pairs += [(m.topic, m.value) for m in await consumer.poll(5000, 0.5)]
    # anything beyond the expected records would arrive now
    pairs += [(m.topic, m.value) for m in await consumer.poll(5000, 2.0)]
    duplicates = consumer.duplicates
    await consumer.close()
    await bus.close()
    return by_topic(pairs), duplicates


@pytest.mark.parametrize("stage_commit", ["transaction", "idempotent"])
def test_killing_an_enrich_process_ten_times_loses_and_repeats_nothing(
    tmp_path, own_kafka_broker, stage_commit, monkeypatch
):
    monkeypatch.setitem(ENV, "QUOTEFLOW_BUS__STAGE_COMMIT", stage_commit)
    events = market(900)
    expected = expected_outputs(events)
    bus = f"kafka://{own_kafka_broker}"
    rng = random.Random(5)
    steady = Stage("enrich", "--bus", bus)
    victim = Stage("enrich", "--bus", bus)
    ingest = Stage("ingest", "--bus", bus, "--speed", str(SPEED), *write_replay(tmp_path, events))
    owning_kills = 0
    try:
        for _ in range(10):
            # a random moment while the victim owns partitions and works on them
            owning_kills += victim.wait_for("assigned partitions")
            time.sleep(rng.uniform(0.2, 3.0))
            victim.kill()
            victim = Stage("enrich", "--bus", bus)
        ingest.finish()
        got, dropped = asyncio.run(read_outputs(own_kafka_broker, expected, 300))
    finally:
        stop_all(steady, victim, ingest)
    print(f"kills while owning partitions: {owning_kills}/10; "
          f"copies of aborted outputs dropped by the reader: {dropped}")  # fmt: skip
    assert owning_kills == 10
    assert {t: len(r) for t, r in got.items()} == {t: len(r) for t, r in expected.items()}
    assert got == expected


def test_scaling_from_one_to_three_enrich_processes_and_back_gives_the_same_outputs(
    tmp_path, own_kafka_broker
):
    events = market(400)
    expected = expected_outputs(events)
    bus = f"kafka://{own_kafka_broker}"
    first = Stage("enrich", "--bus", bus)
    ingest = Stage("ingest", "--bus", bus, "--speed", str(SPEED), *write_replay(tmp_path, events))
    extra: list[Stage] = []
    try:
        time.sleep(5)
        extra += [Stage("enrich", "--bus", bus), Stage("enrich", "--bus", bus)]
        for stage in extra:
            assert stage.wait_for("assigned partitions")
        time.sleep(5)
        for stage in extra:
            stage.stop()
        assert first.wait_for("handed back")
        ingest.finish()
        got, _ = asyncio.run(read_outputs(own_kafka_broker, expected, 300))
    finally:
        stop_all(first, ingest, *extra)
    assert {t: len(r) for t, r in got.items()} == {t: len(r) for t, r in expected.items()}
    assert got == expected
