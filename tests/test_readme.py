"""The shell examples of the README and docs/ work as written.

The ```sh blocks of each document (the README, each page of docs/) are its
tour: they run in order, in one scratch directory per document (as a user
runs them from the root of a clone: ``tests/`` is there), each under
``bash -euo pipefail``; a ``# prints: TEXT`` comment says a line the block's
output must hold. One test runs a document's whole tour, so parallel test
workers never split it. Long runs are shortened (``SHORTER``). Blocks that need what
no test machine has (a provider account, a Kafka cluster, the internet) carry
an info string after ``sh`` (```sh needs-provider-accounts; the README's
first block, ``make demo`` and ``make test``, is ```sh set-up: CI runs it) and have every
``quoteflow`` command in them parsed by the real command line instead: each
option exists and each value is valid.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from quoteflow.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SHORTER = {
    "--duration 23400": "--duration 1800",
    "--duration 600": "--duration 120",
    "--duration 5 --speed 60": "--duration 4 --speed 60",
    "--seconds 30": "--seconds 3",
}
"""Long runs as the README names them, and the shorter runs the test makes instead."""

FENCE = re.compile(r"^```(\S*)(?:[ \t]+(\S.*))?$")
PRINTS = re.compile(r"#\s*prints:\s*(.+)$")


@dataclass(frozen=True)
class Block:
    """One fenced shell block: where it is, its info string and its text."""

    path: Path
    line: int
    tag: str
    text: str

    @property
    def name(self) -> str:
        """Return ``file:line`` of the block."""
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def expected(self) -> list[str]:
        """Return the ``# prints:`` texts of the block."""
        return [m.group(1).strip() for m in map(PRINTS.search, self.text.splitlines()) if m]


def shell_blocks(path: Path) -> list[Block]:
    """Return the ```sh blocks of a Markdown file, in order."""
    blocks, lines, opened = [], path.read_text().splitlines(), None
    for number, line in enumerate(lines, start=1):
        match = FENCE.match(line)
        if opened is None and match and match.group(1) in ("sh", "bash", "console", "shell"):
            opened, body = (number, match.group(2) or ""), []
        elif opened is not None and line.startswith("```"):
            blocks.append(Block(path, opened[0], opened[1], "\n".join(body)))
            opened = None
        elif opened is not None:
            body.append(line)
    return blocks


TOURS = {path: blocks for path in DOCS if (blocks := [b for b in shell_blocks(path) if not b.tag])}
REFERENCE = [b for path in DOCS for b in shell_blocks(path) if b.tag]


def test_every_shell_block_of_the_docs_is_run_or_marked_with_what_it_needs():
    assert len(TOURS[REPO / "README.md"]) >= 9
    assert {REPO / "docs" / "GATEWAY.md", REPO / "docs" / "EXCHANGE.md"} <= set(TOURS)
    for block in REFERENCE:
        assert block.tag == "set-up" or block.tag.startswith("needs-"), block.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scratch(directory: Path) -> tuple[Path, dict[str, str]]:
    """Make ``directory`` like the root of a clone; return it and the environment to run in."""
    (directory / "tests").symlink_to(REPO / "tests")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(directory),
        "QUOTEFLOW_GATEWAY__PORT": str(_free_port()),
        "QUOTEFLOW_EXCHANGE__PORT": str(_free_port()),
        "COLUMNS": "120",
    }
    env.pop("QUOTEFLOW_CONFIG", None)
    return directory, env


def _shortened(text: str) -> str:
    for long, short in SHORTER.items():
        text = text.replace(long, short)
    return text


@pytest.mark.parametrize("path", list(TOURS), ids=[p.relative_to(REPO).as_posix() for p in TOURS])
def test_the_tour_of_each_document_runs_as_written(tmp_path, path):
    scratch, env = _scratch(tmp_path)
    for block in TOURS[path]:
        script = "set -euo pipefail\n" + _shortened(block.text)
        result = subprocess.run(["bash", "-c", script], cwd=scratch, env=env,
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{block.name} failed:\n{output[-3000:]}"
        for text in block.expected:
            assert text in output, f"{block.name}: {text!r} not in:\n{output[-3000:]}"


def _commands(text: str) -> list[list[str]]:
    """Return the ``quoteflow`` command lines of a block as argument lists (without env)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words = words[1:]
        if words and words[0] == "quoteflow":
            commands.append(words[1:])
    return commands


@pytest.mark.parametrize("index", range(len(REFERENCE)), ids=[b.name for b in REFERENCE])
def test_examples_that_need_outside_services_parse_as_commands(index):
    block = REFERENCE[index]
    root = typer.main.get_command(app)
    for args in _commands(block.text):
        context = root.make_context("quoteflow", list(args))
        command = root
        while hasattr(command, "commands"):
            rest = [*context._protected_args, *context.args]  # what the group leaves unparsed
            name, command, rest = command.resolve_command(context, rest)
            assert command is not None, f"{block.name}: no command {name!r} in {args}"
            context = command.make_context(name, list(rest), parent=context)
