"""Trade corrections and cancels applied to a day of trades, as coalescing refines it.

A correction names the trade it corrects by its trade id (and exchange, where
both give one): the trade takes the corrected price, size, conditions and
trade id. Corrections apply in the order they were received, so a correction
of a corrected trade follows the first. A cancel (or an error) names a trade
the same way: the trade is left out of the refined day. The raw chunks keep
the trade as it was first reported, and the refined ``trades_corrections`` and
``trades_cancels`` keep the amendments themselves. Trades without a trade id
cannot be amended; an amendment that matches no trade changes nothing and is
counted as unmatched.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.events import Trade, TradeCancel, TradeCorrection
from quoteflow.lake.layout import lake_type

__all__ = ["AMENDING", "Amended", "amend_trades"]

AMENDING: dict[str, tuple[str, ...]] = {
    lake_type(Trade.TYPE): (lake_type(TradeCorrection.TYPE), lake_type(TradeCancel.TYPE))
}
"""Lake types whose refined days the records of other lake types amend."""


class Amended(NamedTuple):
    """Trades after amendment, and which amendments matched a trade (row numbers)."""

    table: pa.Table
    corrected: set[int]
    cancelled: set[int]


def _same_exchange(wanted: str | None, found: str | None) -> bool:
    return wanted is None or found is None or wanted == found


def amend_trades(trades: pa.Table, corrections: pa.Table, cancels: pa.Table) -> Amended:
    """Return ``trades`` with ``corrections`` applied and the ``cancels``' trades left out."""
    if not corrections.num_rows and not cancels.num_rows:
        return Amended(trades, set(), set())
    named = pa.concat_arrays([
        corrections.column("original_trade_id").combine_chunks(),
        corrections.column("corrected_trade_id").combine_chunks(),
        cancels.column("trade_id").combine_chunks(),
    ])  # fmt: skip
    touched = pc.is_in(trades.column("trade_id"), value_set=named.drop_null()).fill_null(False)
    rows = np.flatnonzero(touched.to_numpy(zero_copy_only=False))
    if not len(rows):
        return Amended(trades, set(), set())
    found = trades.take(rows).to_pylist()
    corrected = _correct(found, corrections)
    cancelled, gone = _cancel(found, cancels)
    kept = [row for index, row in enumerate(found) if index not in gone]
    rest = trades.filter(pc.invert(touched))
    amended = pa.Table.from_pylist(kept, schema=trades.schema)
    table = pa.concat_tables([rest, amended]).sort_by([("ts_event", "ascending")])
    return Amended(table, corrected, cancelled)


def _correct(found: list[dict], corrections: pa.Table) -> set[int]:
    """Apply the corrections to the trades ``found`` in place; return the rows that matched."""
    matched = set()
    order = pc.sort_indices(corrections, [("ts_recv", "ascending")]).to_pylist()
    listed = corrections.to_pylist()
    for number in order:
        correction = listed[number]
        for trade in found:
            if trade["trade_id"] == correction["original_trade_id"] and _same_exchange(
                correction["exchange"], trade["exchange"]
            ):
                trade["price"] = correction["corrected_price"]
                trade["size"] = correction["corrected_size"]
                trade["conditions"] = correction["corrected_conditions"]
                trade["trade_id"] = correction["corrected_trade_id"] or trade["trade_id"]
                matched.add(number)
                break
    return matched


def _cancel(found: list[dict], cancels: pa.Table) -> tuple[set[int], set[int]]:
    """Return the cancels that matched a trade, and the trades (indexes in ``found``) they end."""
    matched, gone = set(), set()
    for number, cancel in enumerate(cancels.to_pylist()):
        for index, trade in enumerate(found):
            if (
                index not in gone
                and trade["trade_id"] == cancel["trade_id"]
                and _same_exchange(cancel["exchange"], trade["exchange"])
            ):
                matched.add(number)
                gone.add(index)
                break
    return matched, gone
