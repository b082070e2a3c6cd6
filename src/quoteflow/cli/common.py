"""What every ``quoteflow`` command shares: error exits, settings, tables and progress.

Everything printed here is plain text: no user-facing string is read as Rich markup,
so ``[enrich]`` or a file name holding ``[/x]`` prints as written.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from quoteflow.app.settings import Settings

__all__ = [
    "TableFormat",
    "api_key",
    "fail",
    "print_rows",
    "progress_bar",
    "settings_of",
    "split",
    "stderr",
    "sub_app",
    "usage",
]


class _Stderr:
    """The Rich console on stderr, created on first use (Rich takes a while to import)."""

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

    @property
    def is_terminal(self) -> bool:
        """Return whether stderr is a terminal."""
        return self.console.is_terminal

    def print(self, *objects: Any) -> None:
        """Print ``objects`` as plain text (no markup)."""
        self.console.print(*objects)


stderr = _Stderr()


class TableFormat(StrEnum):
    """How a command prints rows: an aligned table, CSV or JSON lines."""

    table = "table"
    csv = "csv"
    json = "json"


def sub_app(help_text: str) -> typer.Typer:
    """Return a command group whose help is printed as written (no markup)."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def fail(error: Exception) -> typer.Exit:
    """Print ``error`` on stderr and return the exit (code 2) to raise.

    A reader that went away (``quoteflow ... | head``) is not an error: the exit is
    then quiet, with code 0, as for other Unix tools.
    """
    if isinstance(error, BrokenPipeError):
        _silence_stdout()
        return typer.Exit(0)
    from rich.text import Text

    stderr.print(Text.assemble(("error:", "red"), f" {error}"))
    return typer.Exit(2)


def usage(option: str, value: object, expected: str) -> typer.BadParameter:
    """Return the usage error (exit 2) for ``option`` given ``value``: what was expected."""
    given = "missing" if value is None else repr(value)
    return typer.BadParameter(f"{given}: {expected}", param_hint=f"'{option}'")


def settings_of(ctx: typer.Context) -> Settings:
    """Return the settings for the config file named on the command line (``ctx.obj``)."""
    from quoteflow.app.settings import load_settings
    from quoteflow.errors import QuoteflowError

    try:
        return load_settings(ctx.obj)
    except QuoteflowError as error:
        raise fail(error) from error


def api_key(key_file: Path | None) -> str:
    """Return the API key from ``key_file``, else from ``$QUOTEFLOW_API_KEY``; exit if none."""
    key = key_file.read_text().strip() if key_file else os.environ.get("QUOTEFLOW_API_KEY", "")
    if not key:
        raise fail(ValueError("no API key: set QUOTEFLOW_API_KEY or pass --key-file"))
    return key


def split(text: str) -> list[str]:
    """Return the non-empty, stripped parts of a comma-separated option."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)  # not 2,024 for a year
    if isinstance(value, list | dict | tuple):
        import json

        return json.dumps(value, default=str)
    return str(value)


def print_rows(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    output_format: TableFormat = TableFormat.table,
    *,
    title: str | None = None,
) -> None:
    """Print ``rows`` on stdout as a table, CSV or JSON lines.

    The table keeps every value whole: numbers are right-aligned and never cut, and
    when stdout is not a terminal the table is as wide as its contents need.
    """
    import csv
    import json

    if output_format is TableFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        sys.stdout.flush()
        return
    if output_format is TableFormat.json:
        for row in rows:
            sys.stdout.write(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n")
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = [list(row) for row in rows]
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        numeric = bool(rows) and all(_is_number(r[index]) or r[index] is None for r in rows)
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    stdout = Console(markup=False, highlight=False)
    if not stdout.is_terminal:
        unbounded = Console(markup=False, highlight=False, width=1_000_000)
        stdout = Console(markup=False, highlight=False, width=unbounded.measure(table).maximum)
    stdout.print(table)


def progress_bar(description: str, total: float | None = None) -> Progress:
    """Return a progress bar with rate and ETA on stderr; silent when stderr is not a terminal.

    Use it as a context manager; its one task has id 0 (``bar.update(0, completed=...)``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "")

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr.console,
        transient=True,
        disable=not stderr.is_terminal,
        redirect_stdout=False,  # stdout is the command's output, never the bar's
        redirect_stderr=False,
    )
    bar.add_task(description, total=total)
    return bar
