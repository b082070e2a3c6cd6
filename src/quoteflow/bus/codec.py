"""How records travel on Kafka: one encoding per topic, named in a header with its version.

Topics carry records as msgpack (msgspec; fields by name, so a newer quoteflow
may add fields with defaults): lossless, compact, and what stages read. Topics
that customers read (``customer_topics``, names or patterns like ``bars.*``)
also get a copy named ``customer.<topic>`` with the reference view as JSON:
camelCase fields and millisecond timestamps, preceded by provider, type and
instrument, as ``quoteflow normalize --keys`` prints it. The copy is for
people and other tools; quoteflow's own stages read the lossless topic (the
reference view rounds timestamps to milliseconds). Every message has the header
``qf-schema: <encoding>/<type>/<version>``; a consumer refuses a message whose
encoding or version it does not know, with an error that says which. Besides
the market-data records and dead letters, the exchange's records travel too:
every type of the registry (:mod:`quoteflow.events.registry`), by its name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from fnmatch import fnmatchcase
from typing import Any

import msgspec

from quoteflow.errors import BusError
from quoteflow.events import Event, record_name, record_type
from quoteflow.formats.reference import reference_json

__all__ = [
    "CUSTOMER_PREFIX",
    "SCHEMA_HEADER",
    "SCHEMA_VERSION",
    "SEQUENCE_HEADER",
    "TopicCodec",
]

CUSTOMER_PREFIX = "customer."

SCHEMA_HEADER = "qf-schema"
SEQUENCE_HEADER = "qf-seq"  # a stage output's number per (topic, key): 1, 2, ...; see kafka.stage
SCHEMA_VERSION = 1
_MSGPACK = "msgpack"
_JSON = "json-reference"


class TopicCodec:
    """Encode values for a topic and decode them back; ``customer_topics`` get a JSON copy."""

    def __init__(self, customer_topics: Collection[str] = ()) -> None:
        self.customer_topics = tuple(customer_topics)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoders: dict[str, msgspec.msgpack.Decoder] = {}
        self._readers: dict[bytes, tuple[str, Callable[[bytes], Any]]] = {}  # by schema header
        self._copies: dict[str, str | None] = {}
        self._schemas: dict[type, tuple[bytes, bytes]] = {}  # record class -> msgpack, JSON header

    def customer_copy(self, topic: str) -> str | None:
        """Return the topic of the JSON copy of ``topic``; ``None`` if customers do not read it."""
        copy = self._copies.get(topic, "")
        if copy == "":
            wanted = any(fnmatchcase(topic, pattern) for pattern in self.customer_topics)
            copy = self._copies[topic] = CUSTOMER_PREFIX + topic if wanted else None
        return copy

    def encode(self, topic: str, value: Any) -> list[tuple[str, bytes, bytes]]:
        """Return ``(topic, payload, schema header value)`` of each message that carries ``value``.

        That is the lossless message on ``topic``, and for a customer topic the JSON copy.
        Raises :class:`~quoteflow.errors.BusError` for a value of no known record type.
        """
        schemas = self._schemas.get(type(value))
        if schemas is None:
            schemas = self._schemas[type(value)] = _schemas(topic, value)
        messages = [(topic, self._encoder.encode(value), schemas[0])]
        copy = self.customer_copy(topic)
        if copy is not None and isinstance(value, Event):
            messages.append((copy, reference_json(value, keyed=True), schemas[1]))
        return messages

    def _decoder(self, kind: str) -> msgspec.msgpack.Decoder:
        decoder = self._decoders.get(kind)
        if decoder is None:
            decoder = self._decoders[kind] = msgspec.msgpack.Decoder(record_type(kind))
        return decoder

    def decode(self, topic: str, payload: bytes, schema: bytes | None) -> Any:
        """Return the value of a message; JSON reference payloads come back as dicts.

        Raises :class:`~quoteflow.errors.BusError` for a missing or unknown schema
        header, a newer version than this quoteflow knows, or a payload that does
        not match its schema.
        """
        if schema is None:
            raise BusError(f"{topic}: message without a {SCHEMA_HEADER} header")
        reader = self._readers.get(schema)
        if reader is None:
            reader = self._readers[schema] = self._reader(topic, schema)
        try:
            return reader[1](payload)
        except msgspec.DecodeError as exc:
            raise BusError(f"{topic}: payload does not match {reader[0]}: {exc}") from exc

    def _reader(self, topic: str, schema: bytes) -> tuple[str, Callable[[bytes], Any]]:
        """Return the records that a schema header names (``quotes v1``) and their decoder."""
        try:
            encoding, kind, version_text = schema.decode().split("/")
            version = int(version_text)
        except (UnicodeDecodeError, ValueError):
            raise BusError(f"{topic}: malformed {SCHEMA_HEADER} header {schema!r}") from None
        if version != SCHEMA_VERSION:
            raise BusError(
                f"{topic}: {kind} records of schema version {version}; this quoteflow reads "
                f"version {SCHEMA_VERSION} only (upgrade the consumer or the producer)"
            )
        if encoding == _JSON:
            return f"{kind} v{version}", msgspec.json.decode
        if encoding != _MSGPACK:
            raise BusError(f"{topic}: unknown encoding {encoding!r} in {SCHEMA_HEADER}")
        try:
            return f"{kind} v{version}", self._decoder(kind).decode
        except KeyError as exc:
            raise BusError(f"{topic}: unknown record type {kind!r}") from exc


def _schemas(topic: str, value: Any) -> tuple[bytes, bytes]:
    """Return the schema headers of ``value``'s record type: as msgpack, and as reference JSON."""
    try:
        kind = record_name(type(value))
    except KeyError as exc:
        raise BusError(f"{topic}: cannot send a {type(value).__name__}: {exc.args[0]}") from None
    return (f"{_MSGPACK}/{kind}/{SCHEMA_VERSION}".encode(),
            f"{_JSON}/{kind}/{SCHEMA_VERSION}".encode())  # fmt: skip
