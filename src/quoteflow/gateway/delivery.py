"""What the hub hands subscribers, and how a subscriber says what it wants."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

__all__ = ["Delivery", "Wants"]

Wants = Callable[[str, str], bool]
"""``wants(channel, instrument)``: whether a subscriber is to get that instrument's records."""


class Delivery(msgspec.Struct, frozen=True, gc=False):
    """One record for subscribers: its channel, sequence number, instrument and JSON.

    Not tracked by the garbage collector: replay windows hold hundreds of
    thousands of them, which full collections would otherwise walk every time.
    """

    channel: str
    sequence: int
    instrument: str
    payload: bytes
