"""``quoteflow keys``: create, list and revoke subscriber API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quoteflow.cli_support import fail, settings_of, stderr
from quoteflow.errors import QuoteflowError
from quoteflow.gateway.keys import KeyStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Create, list and revoke the API keys subscribers connect with.", no_args_is_help=True
)

DbOption = Annotated[str | None, typer.Option(help="Key store (default: [gateway] keys_db).")]


def _store(ctx: typer.Context, db: str | None) -> KeyStore:
    return KeyStore(db or settings_of(ctx).gateway.keys_db)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


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
            name, channels=_split(channels), instruments=_split(instruments),
            max_connections=max_connections, max_messages_per_s=max_messages_per_s,
        )  # fmt: skip
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    stderr.print(f"key {key.name!r} created; store it now, it is not shown again:",
                 highlight=False)  # fmt: skip
    print(text)


@keys_app.command("list")
def list_keys(ctx: typer.Context, db: DbOption = None) -> None:
    """List the keys (never the keys themselves): entitlements, limits, status."""
    try:
        keys = _store(ctx, db).list()
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    table = Table()
    for column in ("name", "id", "channels", "instruments", "connections", "msg/s", "created",
                   "status"):  # fmt: skip
        table.add_column(column)
    for key in keys:
        created = datetime.fromtimestamp(key.created_at, tz=UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(key.name, key.key_id, ",".join(key.channels), ",".join(key.instruments),
                      str(key.max_connections), f"{key.max_messages_per_s:,.0f}", created,
                      "revoked" if key.revoked else "active")  # fmt: skip
    Console().print(table)


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
    stderr.print(f"key {name!r} revoked", highlight=False)
