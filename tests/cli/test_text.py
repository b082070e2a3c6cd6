"""Help and error text print as written: nothing is read as markup, nothing is cut."""

import re

import pytest
import typer
from typer.testing import CliRunner

from quoteflow.cli import app
from tests.test_cli import run

BRACKETS = re.compile(r"\[[A-Za-z_.]+\]")


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def _texts(command) -> list[str]:
    texts = [command.help or ""]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    return texts


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_help_of_commands_holds_config_sections_to_check():
    sections = {s for _, c in COMMANDS for t in _texts(c) for s in BRACKETS.findall(t)}
    assert {"[enrich]", "[gateway]", "[exchange]", "[lake]"} <= sections


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "quoteflow" for path, _ in COMMANDS]
)
def test_every_section_named_in_a_commands_help_is_printed(path, command):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    for text in _texts(command):
        for section in BRACKETS.findall(text):
            assert section in printed, f"{section} vanished from the help of {path}"


def test_a_file_name_with_brackets_prints_verbatim_in_errors(tmp_path):
    name = str(tmp_path / "prices[/x][bold].csv")
    result = run(["indicators", "--input", name, "--spec", "sma:2"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "prices[/x][bold].csv" in result.stderr
    missing = run(["--config", name, "config", "show"])
    assert missing.returncode == 2 and "prices[/x][bold].csv" in missing.stderr


def test_binary_input_is_not_echoed_into_the_error(tmp_path):
    path = tmp_path / "bars.parquet"
    path.write_bytes(b"PAR1\x00\x01\x02\xff\xfe" * 50)
    result = run(["indicators", "--input", str(path), "--spec", "sma:2"])
    assert result.returncode == 2
    assert "\x00" not in result.stderr and "\ufffd" not in result.stderr
    assert "--input" in result.stderr
