"""The subset of TLCP (Text Lightstreamer Client Protocol 2.5.0) that IG streaming needs.

Over WebSocket (subprotocol ``TLCP-2.5.0.lightstreamer.com``) each request is
one text message, ``<name>``, CR-LF, ``<param>=<value>&...``; the server answers with
CR-LF separated lines ``<TAG>,<arg>,...``. A real-time update
``U,<subscription>,<item>,<v1>|<v2>|...`` carries only what changed: an empty
value is unchanged, ``#`` null, ``$`` empty, ``^<n>`` n unchanged fields;
anything else is the value, percent-encoded. :class:`ItemState` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from quoteflow.errors import NormalizeError

__all__ = ["CLIENT_ID", "NOTIFICATIONS", "SUBPROTOCOL", "ItemState", "parse_line", "request"]

SUBPROTOCOL = "TLCP-2.5.0.lightstreamer.com"
CLIENT_ID = "mgQkwtwdysogQz2BJ4Ji%20kOj2Bg"
"""``LS_cid`` of every custom client, already percent-encoded as TLCP gives it."""

_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "\r\n&=%+"})
_ARGUMENTS = {
    "CONOK": 4, "CONERR": 2, "END": 2, "LOOP": 1, "PROBE": 0, "SYNC": 1, "NOOP": 1,
    "SERVNAME": 1, "CLIENTIP": 1, "CONS": 1, "WSOK": 0, "REQOK": 1, "REQERR": 3, "ERROR": 2,
    "SUBOK": 3, "SUBCMD": 5, "UNSUB": 1, "CONF": 3, "EOS": 2, "CS": 2, "OV": 3, "U": 3,
    "PROG": 1, "MSGDONE": 3, "MSGFAIL": 4,
}  # fmt: skip
"""Arguments of each tag; the last one may hold commas."""
NOTIFICATIONS = frozenset(_ARGUMENTS)
"""Every notification tag TLCP defines; any other is not Lightstreamer's."""


def request(name: str, params: Mapping[str, str | int]) -> str:
    r"""Encode one request as a WebSocket text message.

    Values are percent-encoded where TLCP reserves characters (CR, LF, ``&``,
    ``=``, ``%``, ``+``); ``LS_cid`` goes as given, already encoded.

    >>> request("control", {"LS_reqId": 1, "LS_op": "add", "LS_schema": "BID OFR"})
    'control\r\nLS_reqId=1&LS_op=add&LS_schema=BID OFR'
    """
    pairs = "&".join(
        f"{key}={value if key == 'LS_cid' else str(value).translate(_ESCAPES)}"
        for key, value in params.items()
    )
    return f"{name}\r\n{pairs}"


def parse_line(line: str) -> tuple[str, list[str]]:
    """Split one notification line into its tag and arguments (the last keeps its commas).

    >>> parse_line("U,1,1,10.5|#|^2|a,b")
    ('U', ['1', '1', '10.5|#|^2|a,b'])
    """
    tag, _, rest = line.partition(",")
    count = _ARGUMENTS.get(tag)
    if count is None or count == 0:
        return tag, [rest] if rest else []
    return tag, rest.split(",", count - 1)


class ItemState:
    """The current field values of one subscribed item, updated by ``U`` notifications."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self.values: list[str | None] = [None] * len(self.fields)
        self.updates = 0

    def apply(self, encoded: str) -> dict[str, str | None]:
        """Apply the value list of one update; return every field's current value.

        Raises :class:`~quoteflow.errors.NormalizeError` when the list does not fit
        the schema or uses a diff format this client did not ask for.

        >>> item = ItemState(["BID", "OFR", "UTM"])
        >>> item.apply("1.5|1.6|100")
        {'BID': '1.5', 'OFR': '1.6', 'UTM': '100'}
        >>> item.apply("|1.7|101")
        {'BID': '1.5', 'OFR': '1.7', 'UTM': '101'}
        >>> item.apply("^2|#")
        {'BID': '1.5', 'OFR': '1.7', 'UTM': None}
        """
        values = list(self.values)
        position = 0
        for token in encoded.split("|"):
            if position >= len(values):
                raise NormalizeError("$", f"more values than the {len(values)} fields")
            if token == "":
                position += 1
            elif token == "#":
                values[position] = None
                position += 1
            elif token == "$":
                values[position] = ""
                position += 1
            elif token[0] == "^":
                if not token[1:].isdigit():
                    raise NormalizeError(self.fields[position], f"unsupported diff {token[:2]!r}")
                position += int(token[1:])
            else:
                values[position] = unquote(token) if "%" in token else token
                position += 1
        if position != len(values):
            raise NormalizeError("$", f"{position} values for {len(values)} fields")
        self.values = values
        self.updates += 1
        return dict(zip(self.fields, values, strict=True))
