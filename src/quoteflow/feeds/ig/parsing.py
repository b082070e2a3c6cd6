"""IG MARKET updates -> :class:`~quoteflow.events.Quote` records.

An update is a mapping of field name to string. The epic is not in the update
(it is the Lightstreamer item name, ``MARKET:{epic}``), so it is passed in.
"""

from __future__ import annotations

import math
import re
from typing import Any

from quoteflow.errors import NormalizeError
from quoteflow.events import Event, Quote
from quoteflow.feeds.ig.schemas import NUMERIC_FIELDS, VOLUME_FIELDS
from quoteflow.timestamps import MAX_TS_MS, NS_PER_MS

__all__ = ["PROVIDER", "parse_message"]

PROVIDER = "IG"

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DIGITS_RE = re.compile(r"\d{1,16}")
_STATE_RE = re.compile(r"[A-Z][A-Z_]*")


def _text(update: dict[str, Any], field: str) -> str | None:
    value = update.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NormalizeError(field, f"expected a string, got {type(value).__name__}")
    return value


def _number(update: dict[str, Any], field: str) -> float | None:
    text = _text(update, field)
    if text is None:
        return None
    if not _NUMBER_RE.fullmatch(text):
        raise NormalizeError(field, f"not a number: {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise NormalizeError(field, f"number out of range: {text!r}")
    if field in VOLUME_FIELDS and value < 0:
        raise NormalizeError(field, f"expected a volume >= 0, got {text!r}")
    return value


def _update_time_ns(update: dict[str, Any]) -> int:
    text = _text(update, "UTM")
    if text is None:
        raise NormalizeError("UTM", "missing update time")
    if not _DIGITS_RE.fullmatch(text) or int(text) > MAX_TS_MS:
        raise NormalizeError("UTM", f"expected epoch milliseconds, got {text!r}")
    return int(text) * NS_PER_MS


def parse_message(message: Any, ts_recv_ns: int, *, instrument: str | None = None) -> list[Event]:
    """Normalize one MARKET update for the epic ``instrument``.

    Raises :class:`~quoteflow.errors.NormalizeError` naming the field that is wrong.

    >>> parse_message({"BID": "1.5", "UTM": "1000"}, 5, instrument="CS.D.X.IP")[0].bid_price
    1.5
    """
    if not instrument:
        raise NormalizeError(
            "instrument", "IG updates do not carry their epic; pass it (item MARKET:<epic>)"
        )
    if not isinstance(message, dict):
        raise NormalizeError("$", f"expected a JSON object, got {type(message).__name__}")
    numbers = {field: _number(message, field) for field in NUMERIC_FIELDS}
    state = _text(message, "MARKET_STATE")
    if state is not None and not _STATE_RE.fullmatch(state):
        raise NormalizeError("MARKET_STATE", f"not a market state: {state!r}")
    return [
        Quote(
            provider=PROVIDER,
            instrument=instrument,
            ts_event=_update_time_ns(message),
            ts_recv=ts_recv_ns,
            bid_price=numbers["BID"],
            ask_price=numbers["OFR"],
            last_price=numbers["LTP"],
            last_size=numbers["LTV"],
            volume=numbers["TTV"],
            day_open_mid=numbers["DAY_OPEN_MID"],
            day_net_change_mid=numbers["DAY_NET_CHG_MID"],
            day_percent_change_mid=numbers["DAY_PERC_CHG_MID"],
            day_high=numbers["DAY_HIGH"],
            day_low=numbers["DAY_LOW"],
            market_state=state,
        )
    ]
