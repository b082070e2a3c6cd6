"""IG Lightstreamer MARKET item fields, with IG's own names.

Lightstreamer delivers every field value as a string; an empty string or a
null means the field has no value in this update.
"""

from __future__ import annotations

__all__ = ["MARKET_FIELDS", "NUMERIC_FIELDS", "VOLUME_FIELDS"]

NUMERIC_FIELDS = (
    "BID",
    "OFR",
    "LTP",
    "LTV",
    "TTV",
    "DAY_OPEN_MID",
    "DAY_NET_CHG_MID",
    "DAY_PERC_CHG_MID",
    "DAY_HIGH",
    "DAY_LOW",
)
"""Fields holding decimal numbers."""

VOLUME_FIELDS = frozenset({"LTV", "TTV"})
"""Numeric fields that can never be negative."""

MARKET_FIELDS = (*NUMERIC_FIELDS, "UTM", "MARKET_STATE")
"""Every field to subscribe on a ``MARKET:{epic}`` item; UTM is the update time in ms."""
