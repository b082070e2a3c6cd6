"""How long commands take to start: whole processes, as a user types them.

Each command runs as a subprocess and is timed wall clock, from start to exit;
the sides take turns in each round. The floor is the same Python starting
and importing nothing, and a bare Typer command with one option, which is
what any Typer CLI pays before its own code.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
GOAL_S = 0.3

COMMANDS = {
    "quoteflow --help": [QUOTEFLOW, "--help"],
    "quoteflow --version": [QUOTEFLOW, "--version"],
    "quoteflow lake --help": [QUOTEFLOW, "lake", "--help"],
    "quoteflow sql --help": [QUOTEFLOW, "sql", "--help"],
    "quoteflow config show": [QUOTEFLOW, "config", "show"],
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "bare Typer app --help (floor)": [
        sys.executable,
        "-c",
        "import typer; app = typer.Typer(); app.command()(lambda name: None); app()",
        "--help",
    ],
}


@dataclass(frozen=True)
class StartupFigure:
    """One command's wall times: median and best, in seconds."""

    name: str
    median_s: float
    best_s: float


def bench_startup(rounds: int = 15) -> list[StartupFigure]:
    """Time every command ``rounds`` times, taking turns; return the figures."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times[name].append(time.perf_counter() - started)
    return [StartupFigure(name, statistics.median(t), min(t)) for name, t in times.items()]
