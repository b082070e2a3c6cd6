"""``quoteflow config``: show the effective configuration, write a sample file."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from quoteflow.cli.common import fail, settings_of, stderr, sub_app

__all__ = ["config_app"]

config_app = sub_app("Inspect the configuration; write a sample file.")


class ConfigFormat(StrEnum):
    """How ``config show`` prints."""

    toml = "toml"
    json = "json"


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    output_format: Annotated[
        ConfigFormat, typer.Option("--format", help="toml (a file --config reads) or json.")
    ] = ConfigFormat.toml,
) -> None:
    """Print the effective configuration (file + environment) with secrets masked.

    The TOML output can be saved as quoteflow.toml; options without a value, and
    secrets, are comments.
    """
    from quoteflow.config import masked, to_toml

    settings = settings_of(ctx)
    if output_format is ConfigFormat.json:
        typer.echo(json.dumps(masked(settings), indent=2))
    else:
        typer.echo(to_toml(settings), nl=False)


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write the sample.")] = Path(
        "quoteflow.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented sample config: every option with its default and meaning.

    The file is created readable by its owner only (chmod 600), so secrets may be
    added to it; the environment is still the better place for them.
    """
    from quoteflow.app.settings import Settings
    from quoteflow.config import to_toml

    if path.exists() and not force:
        raise fail(FileExistsError(f"{path} exists; --force overwrites it"))
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write("# quoteflow configuration: uncomment and edit what you need.\n")
            out.write("# Environment overrides: QUOTEFLOW_<SECTION>__<KEY>.\n\n")
            out.write(to_toml(Settings.model_construct(), commented=True))
    except OSError as error:
        raise fail(error) from error
    stderr.print(f"wrote {path}")
