"""Retention: delete raw chunks of old days, only where the refined file is safe."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.lake.coalesce import raw_files
from quoteflow.lake.layout import Partition, refined_path
from quoteflow.lake.storage import LakeRoot

__all__ = ["ExpireReport", "expire"]


@dataclass
class ExpireReport:
    """Raw chunks deleted (or that would be), and old partitions kept for want of a refined file."""

    deleted: list[str] = field(default_factory=list)
    kept: list[Partition] = field(default_factory=list)


def _readable(root: LakeRoot, path: str) -> bool:
    """Return whether the file at ``path`` exists and reads as Parquet from end to end."""
    if not root.exists(path):
        return False
    try:
        pq.read_table(pa.BufferReader(root.read(path)))
    except (OSError, pa.ArrowException):
        return False
    return True


def expire(
    root: LakeRoot, older_than: timedelta, today: date, *, dry_run: bool = False
) -> ExpireReport:
    """Delete the raw chunks of days before ``today - older_than`` whose refined file is readable.

    With ``dry_run`` nothing is deleted; the report lists what would be.
    """
    cutoff = today - older_than
    report = ExpireReport()
    for partition, sources in sorted(raw_files(root).items()):
        if partition.day >= cutoff:
            continue
        if not _readable(root, root.join(refined_path(partition))):
            report.kept.append(partition)
            continue
        for paths in sources.values():
            for path in paths:
                if not dry_run:
                    root.delete(path)
                report.deleted.append(root.relative(path))
    return report
