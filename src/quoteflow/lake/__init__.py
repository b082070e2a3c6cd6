"""The data lake: raw chunks per source, refined daily files, retention and SQL.

Names are imported on first use, so reading the lake settings loads no Arrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["Lake", "LakeRoot", "LakeSink", "LakeWriter", "Partition"]

if TYPE_CHECKING:
    from quoteflow.lake.layout import Partition
    from quoteflow.lake.query import Lake
    from quoteflow.lake.writer import LakeSink, LakeWriter
    from quoteflow.storage import LakeRoot

__getattr__, __dir__ = lazy_names(__name__, {
    "Lake": "quoteflow.lake.query",
    "LakeRoot": "quoteflow.storage",
    "LakeSink": "quoteflow.lake.writer",
    "LakeWriter": "quoteflow.lake.writer",
    "Partition": "quoteflow.lake.layout",
})  # fmt: skip
