"""Retention: delete raw chunks of old days, only where the refined file is safe.

Dead letters have no refined copy; they are deleted by their own age, and only
when asked (they are the evidence of what a provider sent and was refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.events import DeadLetter
from quoteflow.lake.coalesce import chunk_key, raw_files, refined_sources
from quoteflow.lake.layout import Partition, parse_partition, refined_path
from quoteflow.storage import LakeRoot

__all__ = ["ExpireReport", "expire"]


@dataclass
class ExpireReport:
    """Chunks deleted (or that would be), and old partitions with chunks no refined file holds."""

    deleted: list[str] = field(default_factory=list)
    kept: list[Partition] = field(default_factory=list)
    temporaries: int = 0
    """Temporary files of writes that never finished (a killed writer), removed."""


def _readable(root: LakeRoot, path: str) -> bool:
    """Return whether the file at ``path`` exists and reads from end to end, checksums right."""
    if not root.exists(path):
        return False
    try:
        pq.read_table(pa.BufferReader(root.read(path)), page_checksum_verification=True)
    except (OSError, pa.ArrowException):
        return False
    return True


def expire(
    root: LakeRoot,
    older_than: timedelta,
    today: date,
    *,
    dead_letters_older_than: timedelta | None = None,
    dry_run: bool = False,
) -> ExpireReport:
    """Delete the raw chunks of days before ``today - older_than`` that a refined file holds.

    A chunk goes only if its day's refined file reads from end to end and lists
    it among its sources; chunks written after the day was refined (late data)
    and days without a readable refined file are kept, and their partitions
    reported. Temporary files that killed writers left behind are removed too.

    With ``dead_letters_older_than``, also delete the dead letters received on days
    before ``today - dead_letters_older_than``; without it they are kept. With
    ``dry_run`` nothing is deleted; the report lists what would be.
    """
    cutoff = today - older_than
    report = ExpireReport()
    for partition, sources in sorted(raw_files(root).items()):
        if partition.day >= cutoff:
            continue
        refined = root.join(refined_path(partition))
        listed = refined_sources(root, refined) if _readable(root, refined) else None
        kept = False
        for source, paths in sources.items():
            for path in paths:
                if listed is not None and chunk_key(source, path) in listed:
                    _delete(root, path, report, dry_run)
                else:
                    kept = True
        if kept:
            report.kept.append(partition)
    if dead_letters_older_than is not None:
        for path in _dead_letters_before(root, today - dead_letters_older_than):
            _delete(root, path, report, dry_run)
    if not dry_run:
        report.temporaries = sum(root.remove_stale_temporaries(area)
                                 for area in ("raw", "refined", DeadLetter.TYPE))  # fmt: skip
    return report


def _dead_letters_before(root: LakeRoot, cutoff: date) -> list[str]:
    """Return the dead-letter chunks of days of receipt before ``cutoff``, in path order."""
    found = []
    for info in root.files(DeadLetter.TYPE):
        parsed = parse_partition(root.relative(info.path))
        if info.base_name.endswith(".parquet") and parsed and parsed[1].day < cutoff:
            found.append(info.path)
    return sorted(found)


def _delete(root: LakeRoot, path: str, report: ExpireReport, dry_run: bool) -> None:
    if not dry_run:
        root.delete(path)
    report.deleted.append(root.relative(path))
