"""How the lake is set up: where it is, how raw chunks are cut, how long they stay."""

from __future__ import annotations

from pydantic import Field

from quoteflow.config import Section

__all__ = ["LakeSettings"]


class LakeSettings(Section):
    """The data lake: where it is and how raw chunks are cut."""

    root: str = Field("lake", description="directory or s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, ...)")
    chunk_rows: int = Field(100_000, ge=1, description="flush a chunk at this many records")
    chunk_age_s: float = Field(60.0, gt=0, description="... or when its oldest waited this long")
    retention_days: int = Field(30, ge=1, description="raw chunks kept after refining")
    dead_letter_retention_days: int | None = Field(
        None, ge=1, description="dead letters kept this long by lake expire (unset: for ever)"
    )
    coalesce_threads: int = Field(
        2, ge=1, description="instrument-days coalesced at once (each holds its day in memory)"
    )
