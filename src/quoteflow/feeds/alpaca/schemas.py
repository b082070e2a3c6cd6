"""Raw Alpaca market-data stream v2 messages, with Alpaca's own field names.

Every frame is a JSON array of messages; ``T`` tells each message's type.
Timestamps are RFC 3339 strings with up to nanosecond precision. Fields are
declared in the order Alpaca sends them, which makes msgspec's key matching
faster.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from quoteflow.feeds.base import NonNegativeFloat

__all__ = [
    "MESSAGE_TYPES",
    "AlpacaBar",
    "AlpacaBarsPage",
    "AlpacaCancel",
    "AlpacaCorrection",
    "AlpacaDailyBar",
    "AlpacaMessage",
    "AlpacaNews",
    "AlpacaQuote",
    "AlpacaRestBar",
    "AlpacaStatus",
    "AlpacaTrade",
    "AlpacaUpdatedBar",
]

Symbol = Annotated[str, msgspec.Meta(min_length=1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # stored as int64


class AlpacaQuote(msgspec.Struct, tag_field="T", tag="q", frozen=True, gc=False, kw_only=True):
    """``"T": "q"``: the NBBO (SIP) or the IEX top of book."""

    S: Symbol
    bx: str | None = None
    bp: float
    bs: NonNegativeFloat
    ax: str | None = None
    ap: float
    as_: NonNegativeFloat = msgspec.field(name="as")
    t: str
    c: tuple[str, ...] = ()
    z: str | None = None


class AlpacaTrade(msgspec.Struct, tag_field="T", tag="t", frozen=True, gc=False, kw_only=True):
    """``"T": "t"``: one trade; ``i`` is the trade id, ``x`` the exchange.

    ``tks`` (crypto only) is the taker side, ``B`` or ``S``.
    """

    i: int | None = None
    S: Symbol
    x: str | None = None
    p: float
    s: NonNegativeFloat
    tks: str | None = None
    t: str
    c: tuple[str, ...] = ()
    z: str | None = None


class AlpacaCorrection(msgspec.Struct, tag_field="T", tag="c", frozen=True, gc=False,
                       kw_only=True):  # fmt: skip
    """``"T": "c"``: a trade correction, delivered with a trades subscription.

    ``oi``/``op``/``os``/``oc`` are the original trade's id, price, size and
    conditions; ``ci``/``cp``/``cs``/``cc`` the corrected ones.
    """

    S: Symbol
    x: str | None = None
    oi: int | None = None
    op: float
    os: NonNegativeFloat
    oc: tuple[str, ...] = ()
    ci: int | None = None
    cp: float
    cs: NonNegativeFloat
    cc: tuple[str, ...] = ()
    z: str | None = None
    t: str


class AlpacaCancel(msgspec.Struct, tag_field="T", tag="x", frozen=True, gc=False, kw_only=True):
    """``"T": "x"``: a trade cancelled (``a`` = ``C``) or declared an error (``E``)."""

    S: Symbol
    i: int | None = None
    x: str | None = None
    p: float
    s: NonNegativeFloat
    a: str
    z: str | None = None
    t: str


class _AlpacaBarFields(msgspec.Struct, frozen=True, gc=False):
    S: Symbol
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's field name
    c: float
    v: NonNegativeFloat
    t: str
    n: Count | None = None
    vw: float | None = None


class AlpacaBar(_AlpacaBarFields, tag_field="T", tag="b", frozen=True, gc=False):
    """``"T": "b"``: a minute bar; ``t`` is the start of the minute."""


class AlpacaDailyBar(_AlpacaBarFields, tag_field="T", tag="d", frozen=True, gc=False):
    """``"T": "d"``: the day's bar so far."""


class AlpacaUpdatedBar(_AlpacaBarFields, tag_field="T", tag="u", frozen=True, gc=False):
    """``"T": "u"``: a minute bar re-sent after late trades changed it."""


class AlpacaStatus(msgspec.Struct, tag_field="T", tag="s", frozen=True, gc=False):
    """``"T": "s"``: a trading status change (halt, resumption)."""

    S: Symbol
    t: str
    sc: str
    sm: str | None = None
    rc: str | None = None
    rm: str | None = None
    z: str | None = None


class AlpacaNews(msgspec.Struct, tag_field="T", tag="n", frozen=True, gc=False):
    """``"T": "n"``: a news article from the news stream."""

    id: int
    headline: str
    created_at: str
    updated_at: str
    symbols: tuple[str, ...] = ()
    summary: str | None = None
    author: str | None = None
    content: str | None = None
    url: str | None = None
    source: str | None = None

    @property
    def t(self) -> str:
        """Return the article's event time, its update time, as every other message has ``t``."""
        return self.updated_at


AlpacaMessage = (
    AlpacaQuote
    | AlpacaTrade
    | AlpacaCorrection
    | AlpacaCancel
    | AlpacaBar
    | AlpacaDailyBar
    | AlpacaUpdatedBar
    | AlpacaStatus
    | AlpacaNews
)
"""Any market-data message, told apart by ``T``."""

MESSAGE_TYPES: dict[str, type[AlpacaMessage]] = {
    cls.__struct_config__.tag: cls
    for cls in (
        AlpacaQuote,
        AlpacaTrade,
        AlpacaCorrection,
        AlpacaCancel,
        AlpacaBar,
        AlpacaDailyBar,
        AlpacaUpdatedBar,
        AlpacaStatus,
        AlpacaNews,
    )
}
"""Message class by its ``T`` tag."""


class AlpacaRestBar(msgspec.Struct, frozen=True, gc=False):
    """One bar of the REST bars endpoint; its symbol is the key it is listed under."""

    t: str
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's field name
    c: float
    v: NonNegativeFloat
    n: Count | None = None
    vw: float | None = None


class AlpacaBarsPage(msgspec.Struct, frozen=True, gc=False):
    """One page of ``GET /v2/stocks/bars`` (or the crypto bars): bars by symbol, next page."""

    bars: dict[str, list[AlpacaRestBar]] | None = None
    next_page_token: str | None = None
