"""``quoteflow keys``, ``serve`` and ``subscribe``: the gateway's commands."""

from __future__ import annotations

import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quoteflow.cli.common import (
    TableFormat,
    api_key,
    fail,
    print_rows,
    settings_of,
    split,
    stderr,
    sub_app,
)
from quoteflow.errors import QuoteflowError

if TYPE_CHECKING:
    from quoteflow.access.keys import KeyStore
    from quoteflow.gateway.server import GatewayServer

__all__ = ["keys_app", "serve_command", "subscribe_command"]

keys_app = sub_app("Create, list and revoke the API keys subscribers connect with.")

DbOption = Annotated[str | None, typer.Option(help="Key store (default: [gateway] keys_db).")]


def _store(ctx: typer.Context, db: str | None) -> KeyStore:
    from quoteflow.access.keys import KeyStore

    return KeyStore(db or settings_of(ctx).gateway.keys_db)


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name for the key (unique), e.g. the customer.")],
    channels: Annotated[
        str, typer.Option(help="Comma-separated channels or patterns, e.g. quotes.enriched,bars.*")
    ],
    instruments: Annotated[
        str, typer.Option(help="Comma-separated instruments or patterns, e.g. AAPL,BTC-*, or *.")
    ],
    max_connections: Annotated[int, typer.Option(min=1, help="Open connections at once.")] = 5,
    max_messages_per_s: Annotated[
        float, typer.Option(min=1.0, help="Messages per second over all its connections.")
    ] = 50_000.0,
    db: DbOption = None,
) -> None:
    """Create a key and print it once: only its hash is stored, it cannot be shown again."""
    try:
        key, text = _store(ctx, db).create(
            name, channels=split(channels), instruments=split(instruments),
            max_connections=max_connections, max_messages_per_s=max_messages_per_s,
        )  # fmt: skip
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    stderr.print(f"key {key.name!r} created; store it now, it is not shown again:",
                 )  # fmt: skip
    print(text)


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    db: DbOption = None,
    output_format: Annotated[
        TableFormat, typer.Option("--format", help="table, csv or json (lines).")
    ] = TableFormat.table,
) -> None:
    """List the keys (never the keys themselves): entitlements, limits, status."""
    try:
        keys = _store(ctx, db).list()
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    columns = ("name", "id", "channels", "instruments", "connections", "msg/s", "created",
               "status")  # fmt: skip
    rows = [
        (key.name, key.key_id, ",".join(key.channels), ",".join(key.instruments),
         key.max_connections, key.max_messages_per_s,
         datetime.fromtimestamp(key.created_at, tz=UTC).strftime("%Y-%m-%d %H:%M"),
         "revoked" if key.revoked else "active")
        for key in keys
    ]  # fmt: skip
    print_rows(columns, rows, output_format)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The key to revoke.")],
    db: DbOption = None,
) -> None:
    """Revoke a key: it no longer authenticates."""
    try:
        _store(ctx, db).revoke(name)
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    stderr.print(f"key {name!r} revoked")


def serve_command(
    ctx: typer.Context,
    replay: Annotated[
        list[Path] | None,
        typer.Option(help="Record files to replay (repeat the option); default: synthetic feed."),
    ] = None,
    bus: Annotated[
        str | None, typer.Option(help="Serve from Kafka, kafka://host:port, not an embedded feed.")
    ] = None,
    speed: Annotated[float, typer.Option(min=0.001, help="Market seconds per wall second.")] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="Replay without pacing.")] = False,
    host: Annotated[str | None, typer.Option(help="Address (default: [gateway] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [gateway] port).")] = None,
) -> None:
    """Serve the enriched feed to subscribers: WebSocket /v1/stream, REST /v1, /docs, /metrics.

    Subscribers need a key from ``quoteflow keys create``. TLS: set [gateway]
    tls_certfile and tls_keyfile. SIGINT or SIGTERM stops it.
    """
    import asyncio

    from quoteflow.app.serve import serve
    from quoteflow.app.sources import feed_and_closes
    from quoteflow.bus import open as open_bus

    settings = settings_of(ctx)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(
        update={"gateway": settings.gateway.model_copy(update=overrides)}
    )

    def started(server: GatewayServer) -> None:
        stderr.print(f"gateway on {server.stream_url} (REST {server.url}/v1, spec "
                     f"{server.url}/docs); Ctrl-C stops")  # fmt: skip

    try:
        if bus:
            asyncio.run(serve(settings, bus=open_bus(bus, settings.bus), on_start=started))
        else:
            feed = feed_and_closes(settings, replay or [], None if fast else speed)
            asyncio.run(serve(settings, feed=feed, on_start=started))
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error


def subscribe_command(
    ctx: typer.Context,
    channel: Annotated[
        list[str], typer.Option(help="Channel to subscribe to (repeat for several).")
    ],
    instruments: Annotated[
        str, typer.Option(help="Comma-separated instruments or patterns, e.g. AMZN,BTC-*.")
    ] = "*",
    url: Annotated[
        str | None,
        typer.Option(
            help="The gateway's stream URL (default: ws://[gateway] host:port/v1/stream)."
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(help="File holding the API key (default: $QUOTEFLOW_API_KEY)."),
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many records.")] = None,
    conflate: Annotated[
        bool, typer.Option(help="When behind, get the latest value per instrument instead.")
    ] = False,
    ca_file: Annotated[
        Path | None, typer.Option(help="CA certificate to trust for wss:// (self-signed).")
    ] = None,
) -> None:
    """Print the records of a gateway channel as JSON lines, resuming after disconnects.

    Until the gateway answers, it keeps trying (a gateway that is starting up);
    a refusal (bad key, no entitlement) ends it with the reason.
    """
    import asyncio

    import msgspec

    from quoteflow.gateway.client import GatewayClient

    key = api_key(key_file)
    if url is None:
        config = settings_of(ctx).gateway
        url = f"ws://{config.host}:{config.port}/v1/stream"
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    client = GatewayClient(url, key, {c: split(instruments) for c in channel},
                           conflate=conflate, ssl_context=context)  # fmt: skip

    async def run() -> None:
        printed = 0
        async for record in client:
            sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
            sys.stdout.flush()
            printed += 1
            if count is not None and printed >= count:
                break
        sys.stdout.flush()

    try:
        asyncio.run(run())
    except (QuoteflowError, ValueError, OSError) as error:
        raise fail(error) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
