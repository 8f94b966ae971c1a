"""``omniline --version`` and the help of every command: ``-h`` as well as ``--help``, and flags
written as flags (typer's rich help wrote ``--help <bool>``)."""

from __future__ import annotations

import importlib.metadata

import pytest
import typer
from typer.testing import CliRunner

from omniline.cli import cli

runner = CliRunner()


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as the words that name it (``[]`` is omniline)."""
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        # typer keeps a click of its own: a group is whatever has subcommands
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(cli), [])
    return found


def test_version_prints_the_installed_distributions_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"omniline {importlib.metadata.version('omniline')}"


def test_every_command_is_checked_here() -> None:
    names = {" ".join(path) for path in command_paths()}
    assert {"run", "demo", "db backup", "db upgrade", "accounts token", "lines reset"} <= names


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "omniline")
@pytest.mark.parametrize("option", ["-h", "--help"])
def test_help_of_every_command_answers_to_h_and_shows_flags_as_flags(
    path: list[str], option: str
) -> None:
    result = runner.invoke(cli, [*path, option])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: "), result.output
    assert "-h, --help" in result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output, result.output
    assert "``" not in result.output  # docstrings' markup is not help text


def test_version_is_a_flag_in_the_help() -> None:
    result = runner.invoke(cli, ["-h"])
    [line] = [line for line in result.output.splitlines() if "--version" in line]
    assert line.split()[0] == "--version" and line.split()[1] == "Print"


def test_help_names_the_config_discovery_order() -> None:
    result = runner.invoke(cli, ["run", "-h"])
    text = " ".join(result.output.split())
    assert "-c, --config FILE" in text
    assert "$OMNILINE_CONFIG names, else ./omniline.yaml" in text
    for option in ("--host HOST", "--port PORT", "--log-level LEVEL", "--log-format FORMAT"):
        assert option in text
