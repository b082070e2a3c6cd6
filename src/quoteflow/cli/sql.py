"""``quoteflow sql``: SQL over the lake, one statement or an interactive shell."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from quoteflow.cli.common import TableFormat, fail, print_rows, stderr, usage
from quoteflow.cli.lake import EndpointOption, RootOption, open_lake
from quoteflow.errors import QuoteflowError

if TYPE_CHECKING:
    import pyarrow as pa

    from quoteflow.lake.query import Lake

__all__ = ["sql"]

HISTORY = Path.home() / ".quoteflow_sql_history"
SHELL_HELP = """\
Statements end with ';' and may span lines. Commands:
  .tables              the lake's views
  .schema [VIEW]       the columns of a view (of every view without one)
  .timer on|off        print how long each statement took
  .mode table|csv|json how results print
  .maxrows N           rows a table shows (0: all)
  .help                this text
  .quit                leave (Ctrl-D too)"""


class OutputFormat(StrEnum):
    """How ``sql`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def sql(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(help="DuckDB SQL over the lake's views; none: an interactive shell."),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, csv, json (lines) or parquet.")
    ] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
    max_rows: Annotated[
        int, typer.Option(min=0, help="Rows a table shows, with the total count (0: all).")
    ] = 40,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL over the lake: views <type> (refined) and raw_<type> (raw chunks).

    Partition columns provider, type, instrument, year, month, day (raw: source)
    prune the files read, e.g. WHERE instrument = 'AAPL' AND year = 2024.
    Lists and maps print as JSON in table and CSV output. A table shows at most
    --max-rows rows and says how many there are; csv, json and parquet write
    every row. Without a statement, an interactive shell (.help lists its
    commands) reads statements; piped into, it runs them one after another.
    """
    if output_format is OutputFormat.parquet and output is None and sys.stdout.isatty():
        raise usage("--format", "parquet", "binary output: give --output FILE or redirect stdout")
    if query is not None and not query.strip():
        raise usage("QUERY", query, 'an SQL statement, e.g. "SELECT * FROM quotes LIMIT 5"')
    lake = open_lake(ctx, root, endpoint_url, must_exist=True)
    if query is None:
        interactive = sys.stdin.isatty()
        lines = _prompted_lines() if interactive else (line.rstrip("\n") for line in sys.stdin)
        shell_format = (TableFormat.table if output_format is OutputFormat.parquet
                        else TableFormat(output_format.value))  # fmt: skip
        ok = run_shell(lake, lines, shell_format, max_rows)
        raise typer.Exit(0 if ok else 1)
    try:
        if output is not None:
            reader = lake.scan_sql(query)  # a bad statement fails here, before the file exists
            with output.open("wb") as sink:
                _write(reader, output_format, sink)
        elif output_format is OutputFormat.table:
            _print_table(lake.scan_sql(query), max_rows)
        else:
            _write(lake.scan_sql(query), output_format, sys.stdout.buffer)
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error


def _write(reader: pa.RecordBatchReader, output_format: OutputFormat, sink: BinaryIO) -> None:
    """Write every row of ``reader`` to ``sink``, a batch at a time."""
    import json

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from quoteflow.formats.records import nested_as_json

    if output_format is OutputFormat.parquet:
        with pq.ParquetWriter(sink, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
    elif output_format is OutputFormat.json:
        for batch in reader:
            rows = batch.to_pylist(maps_as_pydicts="strict")
            sink.write("".join(json.dumps(row, default=str) + "\n" for row in rows).encode())
    else:
        writer = None
        for batch in reader:
            table = nested_as_json(pa.Table.from_batches([batch]))
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema)
            writer.write_table(table)
        if writer is None:
            sink.write((",".join(f'"{n}"' for n in reader.schema.names) + "\n").encode())
        else:
            writer.close()
    sink.flush()


def _print_table(reader: pa.RecordBatchReader, max_rows: int) -> None:
    """Print the first ``max_rows`` rows as a table, then how many rows there are in all."""
    shown: list[list[object]] = []
    total = 0
    for batch in reader:
        if max_rows == 0 or len(shown) < max_rows:
            wanted = batch if max_rows == 0 else batch.slice(0, max_rows - len(shown))
            shown += [list(row.values()) for row in wanted.to_pylist(maps_as_pydicts="strict")]
        total += batch.num_rows
    print_rows(reader.schema.names, shown)
    more = f", showing the first {len(shown):,} (--max-rows, or --format csv for all)"
    stderr.print(f"{total:,} row{'' if total == 1 else 's'}{more if total > len(shown) else ''}")


def _prompted_lines() -> Iterator[str]:
    """Yield lines typed at a prompt, with history kept across sessions; stop at Ctrl-D."""
    try:
        import readline
    except ImportError:  # not every platform has it; the shell works without history
        readline = None  # type: ignore[assignment]
    if readline is not None and HISTORY.exists():
        readline.read_history_file(HISTORY)
    stderr.print("quoteflow sql: statements end with ';', .help for commands, Ctrl-D leaves")
    prompt = "sql> "
    try:
        while True:
            try:
                line = input(prompt)
            except KeyboardInterrupt:
                print()
                continue
            prompt = "...> " if line.strip() and not line.rstrip().endswith(";") else "sql> "
            yield line
    except EOFError:
        print()
    finally:
        if readline is not None:
            readline.set_history_length(10_000)
            readline.write_history_file(HISTORY)


def run_shell(
    lake: Lake,
    lines: Iterable[str],
    output_format: TableFormat,
    max_rows: int,
) -> bool:
    """Run the statements and dot-commands in ``lines``; return whether all of them worked.

    A statement ends with ';' (the last one may omit it); a failed statement is
    reported and the shell goes on.
    """
    from quoteflow.formats.records import nested_as_json

    timer = False
    ok = True
    pending: list[str] = []

    def run(statement: str) -> None:
        nonlocal ok
        started = time.perf_counter()
        try:
            reader = lake.scan_sql(statement)
            if output_format is TableFormat.table:
                _print_table(reader, max_rows)
            else:
                table = nested_as_json(reader.read_all())
                rows = [list(r.values()) for r in table.to_pylist()]
                print_rows(table.column_names, rows, output_format)
        except QuoteflowError as error:
            ok = False
            stderr.print(f"error: {error}")
        if timer:
            stderr.print(f"time: {time.perf_counter() - started:.3f} s")

    for line in lines:
        text = line.strip()
        if not pending and text.startswith("."):
            command, _, argument = text.partition(" ")
            argument = argument.strip()
            if command in (".quit", ".exit"):
                break
            if command == ".help":
                print(SHELL_HELP)
            elif command == ".tables":
                print("\n".join(lake.views) or "(no views: the lake holds no data yet)")
            elif command == ".schema":
                for view in [argument] if argument else lake.views:
                    try:
                        schema = lake.schema(view)
                    except QuoteflowError as error:
                        ok = False
                        stderr.print(f"error: {error}")
                        continue
                    rows = [(view, field.name, str(field.type)) for field in schema]
                    print_rows(("view", "column", "type"), rows, output_format)
            elif command == ".timer" and argument in ("on", "off"):
                timer = argument == "on"
            elif command == ".mode" and argument in TableFormat.__members__:
                output_format = TableFormat(argument)
            elif command == ".maxrows" and argument.isdigit():
                max_rows = int(argument)
            else:
                ok = False
                stderr.print(f"error: unknown or incomplete command {text!r}; .help lists them")
            continue
        pending.append(line)
        if text.endswith(";"):
            statement = "\n".join(pending)
            pending = []
            if _has_sql(statement):
                run(statement)
    if pending and _has_sql("\n".join(pending)):
        run("\n".join(pending))
    return ok


def _has_sql(text: str) -> bool:
    """Return whether ``text`` holds a statement, not only comments and semicolons."""
    import duckdb

    try:
        return bool(duckdb.extract_statements(text))
    except duckdb.Error:
        return True  # let the query report the syntax error
