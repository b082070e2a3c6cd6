"""``quoteflow run <stage>``: one stage as its own process on a shared Kafka bus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quoteflow.cli.common import fail, settings_of

__all__ = ["run_command"]


def run_command(
    ctx: typer.Context,
    stage: Annotated[str, typer.Argument(help="ingest, enrich, lake, gateway or match.")],
    bus: Annotated[str, typer.Option(help="The shared bus: kafka://host:port[,host:port].")],
    replay: Annotated[
        list[Path] | None, typer.Option(help="ingest: record files to replay (default: synthetic).")
    ] = None,
    fast: Annotated[bool, typer.Option("--fast", help="ingest: no pacing.")] = False,
    speed: Annotated[
        float, typer.Option(min=0.001, help="ingest: market seconds per wall second.")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="ingest: synthetic market seconds to generate.")
    ] = None,
    root: Annotated[str | None, typer.Option(help="lake: root (default: [lake] root).")] = None,
    source: Annotated[str, typer.Option(help="lake: primary or replica.")] = "primary",
    chunk_age: Annotated[
        float | None, typer.Option(min=0.001, help="lake: seconds a record may wait in a buffer.")
    ] = None,
) -> None:
    """Run one stage as its own process on a shared Kafka bus; start more to share the work.

    Each stage is a consumer group: a second process of the same stage takes half
    the partitions. SIGINT or SIGTERM stops it after draining what it holds.
    """
    import asyncio

    from quoteflow.app.run import run_stage
    from quoteflow.errors import QuoteflowError

    settings = settings_of(ctx)
    try:
        asyncio.run(run_stage(stage, bus, settings, files=replay or [],
                              speed=None if fast else speed,
                              duration=duration, root=root, source=source,
                              chunk_age=chunk_age))  # fmt: skip
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
