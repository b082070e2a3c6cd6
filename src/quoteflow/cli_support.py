"""What every ``quoteflow`` command module shares: error exits and the settings."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from quoteflow.config import Settings, load_settings
from quoteflow.errors import QuoteflowError

__all__ = ["api_key", "fail", "settings_of", "stderr"]

stderr = Console(stderr=True)


def fail(error: Exception) -> typer.Exit:
    """Print ``error`` on stderr and return the exit (code 2) to raise."""
    stderr.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def settings_of(ctx: typer.Context) -> Settings:
    """Return the settings for the config file named on the command line (``ctx.obj``)."""
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
