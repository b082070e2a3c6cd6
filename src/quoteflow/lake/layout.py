"""The lake's paths: raw chunks and refined daily files, Hive-partitioned.

::

    raw/source=<S>/provider=<P>/type=<T>/instrument=<I>/year=<Y>/month=<M>/day=<D>/<first>_<last>_<digest>.parquet
    refined/provider=<P>/type=<T>/instrument=<I>/year=<Y>/month=<M>/day=<D>/<P>_<T>_<I>_<Y>_<MM>_<DD>.parquet
    refined/provider=<P>/type=bars_1d/instrument=<I>/year=<Y>/<P>_bars_1d_<I>_<Y>.parquet
    dead_letters/source=<S>/provider=<P>/year=<Y>/month=<M>/day=<D>/<first>_<last>_<digest>.parquet

Year, month and day are not zero-padded in directory names, so Athena, Trino,
Spark, DuckDB and pyarrow read the tree as a Hive-partitioned dataset; the day
is the UTC date of ``ts_event``. Bars of a day or longer (``bars_1d``) are few,
so their refined files hold a year each, partitioned down to ``year=`` only
(:func:`is_yearly`); their raw chunks are daily like any other. Partition
values are percent-encoded where they hold characters a path cannot
(``BTC/USD`` -> ``BTC%2FUSD``), which the Hive readers decode. A raw chunk is
named by the first and last ``ts_event`` (ns) it holds and a digest of its
bytes (:func:`content_digest`): writing the same chunk again replaces it, and
two different chunks never share a name, even with the same time range (chunks
of lakes written before the digest, ``<first>_<last>.parquet``, are read
alike). The type of a topic is its name with dots and slashes as underscores:
``quotes``, ``quotes_enriched``, ``bars_1m``.

Dead letters (messages that could not be processed) have no instrument and no
event time: they are kept apart, by source, provider and the UTC day of
``ts_recv``, and named by their first and last ``ts_recv``. They are not
coalesced (each ingester's are its own) and are expired only by their own age,
when asked (``lake expire --dead-letters-older-than``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from typing import NamedTuple
from urllib.parse import quote, unquote

from quoteflow.events import EVENT_TYPES, Bar, DeadLetter, Event

__all__ = [
    "NS_PER_DAY",
    "SOURCES",
    "Partition",
    "content_digest",
    "csv_name",
    "dead_letter_path",
    "is_yearly",
    "lake_type",
    "parse_partition",
    "raw_chunk_path",
    "record_class",
    "refined_partition",
    "refined_path",
    "refined_span",
    "utc_day",
]

SOURCES = ("primary", "replica")
NS_PER_DAY = 86_400_000_000_000
_KEY_VALUE = re.compile(r"([a-z]+)=([^/]*)")
_YEARLY = re.compile(r"bars_\d+d")


def lake_type(topic: str) -> str:
    """Return the lake type of a topic: ``"bars.5m/1m"`` -> ``"bars_5m_1m"``."""
    return topic.replace(".", "_").replace("/", "_")


def is_yearly(kind: str) -> bool:
    """Return whether a refined file of lake type ``kind`` holds a year (bars of N days)."""
    return _YEARLY.fullmatch(kind) is not None


def record_class(kind: str) -> type[Event]:
    """Return the record class stored under lake type ``kind``; ``KeyError`` if none."""
    if kind.startswith("bars_"):
        return Bar
    for name, cls in EVENT_TYPES.items():
        if lake_type(name) == kind:
            return cls
    raise KeyError(f"no record type is stored as {kind!r}")


def utc_day(ts_ns: int) -> date:
    """Return the UTC date of a nanosecond timestamp."""
    return datetime.fromtimestamp(ts_ns // NS_PER_DAY * 86_400, UTC).date()


def _encode(value: str) -> str:
    return quote(value, safe="")


class Partition(NamedTuple):
    """One instrument-day of one provider and type.

    A named tuple: the lake writer looks partitions up per batch and instrument,
    and tuples hash and compare in C.
    """

    provider: str
    type: str
    instrument: str
    day: date

    def directory(self) -> str:
        """Return the partition directories, from ``provider=`` to ``day=``."""
        return (
            f"provider={_encode(self.provider)}/type={_encode(self.type)}/"
            f"instrument={_encode(self.instrument)}/year={self.day.year}/"
            f"month={self.day.month}/day={self.day.day}"
        )


def content_digest(data: bytes | memoryview) -> str:
    """Return the digest that names a chunk: 16 hex digits of BLAKE2b over its bytes."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def raw_chunk_path(
    source: str, partition: Partition, first_ns: int, last_ns: int, digest: str
) -> str:
    """Return the root-relative path of a raw chunk."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    return f"raw/source={source}/{partition.directory()}/{first_ns}_{last_ns}_{digest}.parquet"


def dead_letter_path(
    source: str, provider: str, day: date, first_ns: int, last_ns: int, digest: str
) -> str:
    """Return the root-relative path of a chunk of dead letters (named by receive times)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    return (
        f"{DeadLetter.TYPE}/source={source}/provider={_encode(provider)}/year={day.year}/"
        f"month={day.month}/day={day.day}/{first_ns}_{last_ns}_{digest}.parquet"
    )


def refined_partition(partition: Partition) -> Partition:
    """Return the refined partition that holds ``partition``: itself, or its year (Jan 1)."""
    if is_yearly(partition.type):
        return partition._replace(day=partition.day.replace(month=1, day=1))
    return partition


def refined_span(partition: Partition) -> str:
    """Return what a refined partition covers: its day (``2024-04-01``), or year (``2024``)."""
    return str(partition.day.year) if is_yearly(partition.type) else partition.day.isoformat()


def csv_name(partition: Partition) -> str:
    """Return the name of a refined file, no suffix: ``<P>_<T>_<I>_<YYYY>_<MM>_<DD>``.

    A yearly type's file is named by its year alone: ``<P>_<T>_<I>_<YYYY>``.
    """
    p = partition
    period = f"{p.day:%Y}" if is_yearly(p.type) else f"{p.day:%Y_%m_%d}"
    return f"{p.provider}_{p.type}_{p.instrument}_{period}".replace("/", "%2F")


def refined_path(partition: Partition) -> str:
    """Return the root-relative path of the refined file holding ``partition``'s rows."""
    directory = partition.directory()
    if is_yearly(partition.type):
        directory = directory.rsplit("/month=", 1)[0]
    return f"refined/{directory}/{csv_name(partition)}.parquet"


def parse_partition(path: str) -> tuple[str | None, Partition] | None:
    """Return (source or None, partition) of a lake path, or None if it is not one.

    A chunk of dead letters gives the partition of type ``dead_letters`` with no
    instrument (``""``); a refined file of a yearly type, the partition of its
    year's first day.
    """
    values = {key: unquote(value) for key, value in _KEY_VALUE.findall(path)}
    if path.startswith(f"{DeadLetter.TYPE}/"):
        values.update(type=DeadLetter.TYPE, instrument="")
    elif path.startswith("refined/") and is_yearly(values.get("type", "")):
        values.setdefault("month", "1")
        values.setdefault("day", "1")
    try:
        day = date(int(values["year"]), int(values["month"]), int(values["day"]))
        partition = Partition(values["provider"], values["type"], values["instrument"], day)
    except (KeyError, ValueError):
        return None
    return values.get("source"), partition
