"""``quoteflow exchange``: run the exchange's order entry API."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from quoteflow.cli_support import fail, settings_of, stderr
from quoteflow.errors import QuoteflowError

if TYPE_CHECKING:
    from quoteflow.asgi_server import AsgiServer
    from quoteflow.exchange.service import Exchange

__all__ = ["exchange_app"]

exchange_app = typer.Typer(help="The exchange: order entry, matching, books and trades.",
                           no_args_is_help=True)  # fmt: skip


@exchange_app.command("serve")
def serve(
    ctx: typer.Context,
    instruments: Annotated[
        str | None, typer.Option(help="TOML or CSV reference data (default: [exchange]).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Command store (default: [exchange] db).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [exchange] port).")] = None,
) -> None:
    """Serve the order entry API (REST /v1, spec at /docs); Ctrl-C stops.

    Traders authenticate with keys from ``quoteflow keys create``. The command store
    is replayed at start: books and orders are as the last run left them.
    """
    from quoteflow.exchange.serve import serve_exchange

    settings = settings_of(ctx)
    overrides = {k: v for k, v in (("instruments", instruments), ("db", db), ("port", port))
                 if v is not None}  # fmt: skip
    settings = settings.model_copy(
        update={"exchange": settings.exchange.model_copy(update=overrides)}
    )

    def started(server: AsgiServer, _exchange: Exchange) -> None:
        stderr.print(f"exchange on {server.url}/v1 (spec {server.url}/docs); Ctrl-C stops",
                     highlight=False)  # fmt: skip

    try:
        asyncio.run(serve_exchange(settings, on_start=started))
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
