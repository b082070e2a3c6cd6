"""The embedded feed a command runs on, and the previous closes that go with it.

Kept apart from the demo, so that a command that only needs a feed (``enrich``,
``run``, ``serve``) does not load the demo's gateway and exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from quoteflow.app.settings import Settings
from quoteflow.enrich import PreviousCloses
from quoteflow.events import Bar, arrow_schema, from_batch
from quoteflow.feeds.base import Feed
from quoteflow.feeds.config import SyntheticSettings
from quoteflow.feeds.replay import ReplayFeed
from quoteflow.feeds.synthetic import (
    SyntheticFeed,
    SyntheticMarket,
    default_instruments,
)
from quoteflow.lake.query import Lake
from quoteflow.storage import LakeRoot

__all__ = ["feed_and_closes", "previous_closes_in", "synthetic_market"]


def synthetic_market(config: SyntheticSettings, start: date | None = None) -> SyntheticMarket:
    """Build the synthetic market the settings describe, from ``start`` (default: latest)."""
    return SyntheticMarket(
        default_instruments(config.instruments),
        seed=config.seed,
        rate_per_s=config.rate_per_s,
        trade_probability=config.trade_probability,
        annual_volatility=config.annual_volatility,
        start=start,
        calendar=config.calendar,
    )


def previous_closes_in(path: str | Path | None, calendar: str = "XNYS") -> PreviousCloses:
    """Return the previous closes in ``path``: a lake root, a record file or an OHLCV CSV.

    A directory or an ``s3://`` URI is a lake (its refined ``bars_1d``); no path: no closes.
    """
    if path is None:
        return PreviousCloses({}, calendar)
    if str(path).startswith("s3://") or Path(path).is_dir():
        lake = Lake(LakeRoot.open(path))
        if "bars_1d" not in lake.views:
            return PreviousCloses({}, calendar)
        table = lake.read_sql(f"SELECT {', '.join(arrow_schema(Bar).names)} FROM bars_1d")
        return PreviousCloses.from_bars(from_batch(table, Bar), calendar)
    return PreviousCloses.read(path, calendar)


def feed_and_closes(
    settings: Settings,
    files: Sequence[Path],
    speed: float | None,
    *,
    previous_closes: str | None = None,
    duration_s: float | None = None,
) -> tuple[Feed, PreviousCloses]:
    """Return the embedded feed and its previous closes: replayed ``files``, else synthetic.

    Replayed files take their closes from ``previous_closes`` (default: [enrich]
    previous_closes; none known: no closes); the synthetic market brings its own.
    ``speed`` None replays as fast as possible. Raises QuoteflowError for an
    unreadable closes file.
    """
    config = settings.enrich
    if files:
        closes = previous_closes_in(previous_closes or config.previous_closes, config.calendar)
        return ReplayFeed(files, speed=speed), closes
    market = synthetic_market(settings.synthetic)
    feed = SyntheticFeed(market, speed=speed, duration_s=duration_s)
    return feed, PreviousCloses(market.previous_closes(), config.calendar)
