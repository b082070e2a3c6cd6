"""``quoteflow kafka``: a single-node Apache Kafka broker to try Kafka mode on one machine."""

from __future__ import annotations

from typing import Annotated

import typer

from quoteflow.cli.common import fail, progress_bar, stderr, sub_app

__all__ = ["kafka_app"]

kafka_app = sub_app("A local Apache Kafka broker (KRaft, one node) for trying Kafka mode.")


@kafka_app.command("fetch")
def fetch() -> None:
    """Fetch the broker's jars from Maven Central into the cache, checking their SHA-256.

    Only missing or damaged jars are fetched; ``make test`` runs this once.
    """
    from quoteflow.bus.kafka.broker import KAFKA_VERSION, cache_dir, fetch_jars, pinned_jars
    from quoteflow.errors import QuoteflowError

    with progress_bar("fetching Kafka jars", len(pinned_jars())) as bar:
        try:
            fetch_jars(on_jar=lambda _: bar.advance(0, 1))
        except QuoteflowError as error:
            raise fail(error) from error
    stderr.print(f"Apache Kafka {KAFKA_VERSION}: jars in {cache_dir()}")


@kafka_app.command("dev")
def dev(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 9092,
    heap_mb: Annotated[int, typer.Option(min=128, help="JVM heap in MB.")] = 512,
) -> None:
    """Run a single-node broker on 127.0.0.1 until Ctrl-C; its data is removed on exit.

    Point quoteflow at it with ``--bus kafka://127.0.0.1:PORT``.
    """
    import signal
    import threading

    from quoteflow.bus.kafka.broker import KAFKA_VERSION, KafkaBroker
    from quoteflow.errors import QuoteflowError

    broker = KafkaBroker(port=port or None, heap_mb=heap_mb, log_level="INFO")
    try:
        broker.start()
    except QuoteflowError as error:
        raise fail(error) from error
    stderr.print(f"Apache Kafka {KAFKA_VERSION} up in {broker.started_s:.1f} s: "
                 f"kafka://{broker.address} (log: {broker.log_file}); Ctrl-C stops it")  # fmt: skip
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        broker.stop()
