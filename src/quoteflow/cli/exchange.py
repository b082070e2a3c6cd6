"""``quoteflow exchange``: serve the exchange, trade on it, simulate traders, see its stats."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quoteflow.cli.common import (
    api_key,
    fail,
    print_rows,
    progress_bar,
    settings_of,
    stderr,
    sub_app,
    usage,
)
from quoteflow.errors import QuoteflowError
from quoteflow.events.exchange import Side, TimeInForce

if TYPE_CHECKING:
    from quoteflow.app.exchange import RunningExchange
    from quoteflow.exchange.client import ExchangeClient
    from quoteflow.exchange.simulate import SimulationReport

__all__ = ["exchange_app"]

exchange_app = sub_app("The exchange: order entry, matching, books and trades.")


@exchange_app.command("serve")
def serve(
    ctx: typer.Context,
    instruments: Annotated[
        str | None, typer.Option(help="TOML or CSV reference data (default: [exchange]).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Command store (default: [exchange] db).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [exchange] port).")] = None,
    bus: Annotated[
        str | None, typer.Option(help="Publish on Kafka, kafka://host:port (default: embedded).")
    ] = None,
    match: Annotated[
        bool, typer.Option(help="Match here too (--no-match: `quoteflow run match` does).")
    ] = True,
) -> None:
    """Serve the order entry API (REST /v1, spec at /docs); Ctrl-C stops.

    Traders authenticate with keys from ``quoteflow keys create``. The command store
    is replayed at start: books and orders are as the last run left them.
    """
    import asyncio

    from quoteflow.app.exchange import serve_exchange
    from quoteflow.bus import open as open_bus

    settings = settings_of(ctx)
    overrides = {k: v for k, v in (("instruments", instruments), ("db", db), ("port", port))
                 if v is not None}  # fmt: skip
    settings = settings.model_copy(
        update={"exchange": settings.exchange.model_copy(update=overrides)}
    )

    def started(running: RunningExchange) -> None:
        server = running.server
        listing = settings.exchange.instruments or "the sample listing"
        symbols = ", ".join(running.exchange.instruments)
        stderr.print(f"exchange on {server.url}/v1 (spec {server.url}/docs); Ctrl-C stops")
        stderr.print(f"instruments from {listing}: {symbols}")

    async def run() -> None:
        shared = open_bus(bus, settings.bus) if bus else None
        try:
            await serve_exchange(settings, bus=shared, match=match, on_start=started)
        finally:
            if shared is not None:
                await shared.close()  # its client threads end before the interpreter does

    try:
        asyncio.run(run())
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error


order_app = sub_app(
    "Place, cancel, amend and watch your orders (API key: $QUOTEFLOW_API_KEY or --key-file)."
)
exchange_app.add_typer(order_app, name="order")

UrlOption = Annotated[
    str | None,
    typer.Option(help="The exchange's API (default: http://[exchange] host:port)."),
]
KeyFileOption = Annotated[
    Path | None, typer.Option(help="File holding your API key (default: $QUOTEFLOW_API_KEY).")
]


_CONNECT_WAIT_S = 10.0
"""How long a trader command waits for an exchange that is still starting."""


def _url(ctx: typer.Context, url: str | None) -> str:
    if url:
        return url
    config = settings_of(ctx).exchange
    return f"http://{config.host}:{config.port}"


def _print(state: Any) -> None:
    import msgspec

    sys.stdout.write(msgspec.json.encode(state).decode() + "\n")
    sys.stdout.flush()


def _call(ctx: typer.Context, url: str | None, key_file: Path | None,
          work: Callable[[ExchangeClient], Awaitable[Any]]) -> None:  # fmt: skip
    """Run one request as the key's trader; print the answer as JSON, or fail."""
    import asyncio

    from quoteflow.exchange.client import ExchangeClient

    async def run() -> Any:
        async with ExchangeClient(_url(ctx, url), api_key(key_file),
                                  connect_wait_s=_CONNECT_WAIT_S) as client:  # fmt: skip
            return await work(client)

    try:
        _print(asyncio.run(run()))
    except QuoteflowError as error:
        raise fail(error) from error


def _quantity(option: str, text: str) -> int:
    """Return a whole, positive number of lots typed for ``option``; a usage error otherwise."""
    if not text.isdigit() or int(text) <= 0:
        raise usage(option, text, "a whole number of lots, more than 0")
    return int(text)


def _price(text: str | None) -> str | None:
    """Return ``--price`` if it is a positive decimal number; a usage error otherwise."""
    if text is None:
        return None
    try:
        valid = Decimal(text).is_finite() and Decimal(text) > 0
    except InvalidOperation:
        valid = False
    if not valid:
        raise usage("--price", text, "a positive decimal price, e.g. 10.25")
    return text


@order_app.command("place", context_settings={"ignore_unknown_options": True})
def place(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="The instrument, e.g. ACME.")],
    side: Annotated[Side, typer.Argument(help="buy or sell.")],
    quantity: Annotated[str, typer.Argument(help="A whole number of lots, more than 0.")],
    price: Annotated[str | None, typer.Option(help="Limit price (omit for market).")] = None,
    tif: Annotated[
        TimeInForce | None,
        typer.Option(help="DAY, GTC, IOC, FOK or GTD (default DAY; IOC for market)."),
    ] = None,
    expire_at: Annotated[
        str | None, typer.Option(help="GTD expiry, RFC 3339 (2026-12-01T21:00:00Z).")
    ] = None,
    client_order_id: Annotated[
        str | None, typer.Option(help="Your id; sending it again is a safe retry.")
    ] = None,
    url: UrlOption = None,
    key_file: KeyFileOption = None,
) -> None:
    """Place a limit order (with --price) or a market order; print its state once matched."""
    order = {"client_order_id": client_order_id or f"cli-{uuid.uuid4().hex[:16]}",
             "symbol": symbol, "side": side.value, "quantity": _quantity("QUANTITY", quantity),
             "price": _price(price), "type": "limit" if price is not None else "market",
             "time_in_force": tif.value if tif else None, "expire_at": expire_at}  # fmt: skip
    _call(ctx, url, key_file, lambda client: client.place(**order))


@order_app.command("cancel")
def cancel(ctx: typer.Context, order_id: int, url: UrlOption = None,
           key_file: KeyFileOption = None) -> None:  # fmt: skip
    """Cancel one of your open orders; print its state."""
    _call(ctx, url, key_file, lambda client: client.cancel(order_id))


@order_app.command("amend")
def amend(
    ctx: typer.Context,
    order_id: int,
    quantity: Annotated[
        str | None, typer.Option(help="New total quantity (lower keeps your place).")
    ] = None,
    price: Annotated[str | None, typer.Option(help="New price (loses your place).")] = None,
    url: UrlOption = None,
    key_file: KeyFileOption = None,
) -> None:
    """Change the quantity and/or price of one of your open orders; print its state."""
    if quantity is None and price is None:
        raise usage("--quantity", None, "give --quantity and/or --price")
    lots = None if quantity is None else _quantity("--quantity", quantity)
    new_price = _price(price)
    _call(ctx, url, key_file, lambda client: client.amend(order_id, quantity=lots,
                                                          price=new_price))  # fmt: skip


@order_app.command("show")
def show(ctx: typer.Context, order_id: int, url: UrlOption = None,
         key_file: KeyFileOption = None) -> None:  # fmt: skip
    """Print the state of one of your orders."""
    _call(ctx, url, key_file, lambda client: client.order(order_id))


@order_app.command("watch")
def watch(
    ctx: typer.Context,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    url: UrlOption = None,
    key_file: KeyFileOption = None,
) -> None:
    """Print your order updates and fills as JSON lines as they happen; Ctrl-C stops."""
    import asyncio

    from quoteflow.exchange.client import ExchangeClient

    async def run() -> None:
        async with ExchangeClient(_url(ctx, url), api_key(key_file)) as client:
            seen = 0
            async for event in client.events():
                _print(event)
                seen += 1
                if count is not None and seen >= count:
                    return

    try:
        asyncio.run(run())
    except QuoteflowError as error:
        raise fail(error) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _window(figures: dict[str, Any]) -> str:
    """Return a window as ``YYYY-MM-DD HH:MM:SS-HH:MM:SS`` (UTC)."""
    start, end = figures["window_start"], figures["window_end"]
    return f"{start[:10]} {start[11:19]}-{end[11:19]}"


@exchange_app.command("stats")
def stats(
    ctx: typer.Context,
    url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the trade analytics: each symbol's latest window and each window's leader.

    Per symbol: the SMA of the trade prices over the window, open, close and
    profit (close - open, and in percent); per window: the most profitable symbol.
    """
    import asyncio

    from quoteflow.exchange.client import ExchangeClient

    async def run() -> Any:
        async with ExchangeClient(_url(ctx, url), "", connect_wait_s=_CONNECT_WAIT_S) as client:
            return await client.stats()

    try:
        figures = asyncio.run(run())
    except QuoteflowError as error:
        raise fail(error) from error
    if as_json:
        _print(figures)
        return
    columns = ("symbol", "window (UTC)", "trades", "SMA", "open", "close", "profit", "%")

    def row(symbol: str, w: dict[str, Any]) -> tuple[Any, ...]:
        return (symbol, _window(w), w["trades"], round(w["sma"], 4), w["open"], w["close"],
                round(w["profit"], 6), round(w["profit_pct"], 2))  # fmt: skip

    current = [row(symbol, w) for symbol, w in figures["open"].items()]
    lateness_s = figures["lateness_ns"] / 1e9
    title = (f"Open window per symbol, so far (it closes {lateness_s:g} s after its end, "
             "when a later trade or the clock passes it)")  # fmt: skip
    print_rows(columns, current, title=title)
    latest = [row(symbol, windows[-1]) for symbol, windows in figures["symbols"].items()
              if windows]  # fmt: skip
    if latest:
        print_rows(columns, latest, title="Latest closed window per symbol")
    else:
        window_s = figures["window_ns"] / 1e9
        stderr.print(
            f"no window has closed yet: windows are {window_s:g} s long, a new one "
            f"every {figures['every_ns'] / 1e9:g} s ([exchange] stats_window, "
            "stats_every)"
        )
    leaders = [(_window(leader), leader["symbol"], leader["profit"],
                round(leader["profit_pct"], 2), leader["symbols"])
               for leader in figures["leaders"][-6:]]  # fmt: skip
    if leaders:
        print_rows(("window (UTC)", "symbol", "profit", "%", "symbols traded"), leaders,
                   title="Most profitable symbol per window")  # fmt: skip


def _report(report: SimulationReport) -> None:
    refused = ", ".join(f"{reason} {n:,}" for reason, n in report.refused.most_common()) or "none"
    lines = [f"{report.sent:,} actions in {report.seconds:.1f} s ({report.rate:,.0f}/s): "
             f"{report.accepted:,} accepted; refused: {refused}"]  # fmt: skip
    if report.fills is not None:
        lines.append(f"{report.fills:,} executions")
    if report.latencies_ms:
        lines.append(f"answer latency p50 {report.latency(0.5):.2f} ms, "
                     f"p99 {report.latency(0.99):.2f} ms")  # fmt: skip
    stderr.print("\n".join(lines))


@exchange_app.command("simulate")
def simulate(
    ctx: typer.Context,
    traders: Annotated[int, typer.Option(min=1, max=10_000, help="How many traders.")] = 50,
    rate: Annotated[float, typer.Option(min=1, help="Actions per second (all traders).")] = 2000,
    seconds: Annotated[float, typer.Option(min=0.1, help="How long to run.")] = 30.0,
    seed: Annotated[int | None, typer.Option(help="Seed, for the same flow again.")] = None,
    embedded: Annotated[
        bool, typer.Option(help="Run an exchange in this process (throwaway store) instead.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Generate random order flow: a market maker and traders, for demos and load.

    The market maker quotes around a mid price that walks near the reference
    price; traders send limit, market and GTD orders, cancels and amends.

    By default the flow goes over HTTP to the running exchange, as traders
    ``sim-<run>-tNN`` whose keys are created in the [gateway] key store for the
    run and revoked after it; with --embedded it runs against an exchange in
    this process, on the [exchange] instruments.
    """
    import asyncio

    from quoteflow.exchange.instruments import load_instruments
    from quoteflow.exchange.simulate import simulate_embedded, simulate_http

    settings = settings_of(ctx)
    with progress_bar("simulating seconds", total=seconds) as bar:

        def show(report: SimulationReport) -> None:
            figures = (f"simulating: {report.sent:,} sent, "
                       f"{sum(report.refused.values()):,} refused")  # fmt: skip
            bar.update(0, completed=min(report.seconds, seconds), description=figures)

        shape = {"traders": traders, "rate": rate, "seconds": seconds, "seed": seed,
                 "progress": show}  # fmt: skip
        try:
            if embedded:
                instruments = load_instruments(settings.exchange.instruments)
                report = asyncio.run(simulate_embedded(instruments, **shape))
            else:
                keys = settings.gateway.keys_db
                report = asyncio.run(simulate_http(_url(ctx, url), keys, **shape))
        except (QuoteflowError, ValueError) as error:
            raise fail(error) from error
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    _report(report)
