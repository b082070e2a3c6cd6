"""The data lake: raw chunks per source, refined daily files, retention and SQL."""

from quoteflow.lake.layout import Partition
from quoteflow.lake.query import Lake
from quoteflow.lake.writer import LakeSink, LakeWriter
from quoteflow.storage import LakeRoot

__all__ = ["Lake", "LakeRoot", "LakeSink", "LakeWriter", "Partition"]
