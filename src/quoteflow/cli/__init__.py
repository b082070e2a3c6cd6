"""The ``quoteflow`` command: every command lives in this package, thin, over the library.

Command modules import only the standard library and Typer at the top; the
library is imported inside each command, so ``quoteflow --help`` and light
commands start quickly.
"""

from quoteflow.cli.root import app

__all__ = ["app"]
