"""The gateway's WebSocket protocol: client requests, server messages, close codes.

A client sends JSON objects with an ``op``; the first must be ``auth``::

    {"op": "auth", "key": "qf_...", "conflate": false}
    {"op": "subscribe", "channel": "quotes.enriched", "instruments": ["AMZN", "BTC-*"]}
    {"op": "subscribe", "channel": "quotes.enriched", "instruments": ["AMZN"],
     "resume": {"epoch": "...", "after": 1234}}
    {"op": "unsubscribe", "channel": "quotes.enriched"}

The server answers with JSON objects with an ``op`` (``welcome``,
``subscribed``, ``unsubscribed``, ``error``) and sends records as JSON
arrays: each record is the reference record (``provider``, ``type``,
``instrument``, camelCase fields, millisecond timestamps) preceded by its
``channel`` and ``seq``, the channel's sequence number. A connection closes
with one of the :class:`~quoteflow.http.websocket.CloseCode` codes when the server ends it.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Resume", "Subscribe", "Unsubscribe", "decode_request", "message"]


class Auth(msgspec.Struct, tag_field="op", tag="auth", forbid_unknown_fields=True):
    """Authenticate with an API key; ``conflate`` asks for latest-value mode when behind."""

    key: str
    conflate: bool = False


class Resume(msgspec.Struct, forbid_unknown_fields=True):
    """Where a reconnecting client left off: the gateway's epoch and the last sequence seen."""

    epoch: str
    after: int


class Subscribe(msgspec.Struct, tag_field="op", tag="subscribe", forbid_unknown_fields=True):
    """Subscribe to instruments (names or patterns) of a channel; optionally resume."""

    channel: str
    instruments: list[str]
    resume: Resume | None = None


class Unsubscribe(msgspec.Struct, tag_field="op", tag="unsubscribe", forbid_unknown_fields=True):
    """Stop receiving a channel."""

    channel: str


Request = Auth | Subscribe | Unsubscribe

_decoder = msgspec.json.Decoder(Request)


def decode_request(text: str | bytes) -> Request:
    """Return the request in ``text``.

    Raises ``msgspec.ValidationError`` or ``msgspec.DecodeError`` with a message
    saying what is wrong, e.g. ``Expected `str`, got `int` - at `$.channel` ``.

    >>> decode_request('{"op": "unsubscribe", "channel": "alerts"}')
    Unsubscribe(channel='alerts')
    """
    return _decoder.decode(text)


def message(op: str, **fields: Any) -> bytes:
    """Return a server message as JSON.

    >>> message("error", code="forbidden", message="no")
    b'{"op":"error","code":"forbidden","message":"no"}'
    """
    return msgspec.json.encode({"op": op, **fields})
