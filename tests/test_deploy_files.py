"""The files in ``deploy/`` that docs/deployment.md gives users stay true to the command line."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from typer.testing import CliRunner

from omniline.cli import cli

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "omniline.service")
    return unit


def test_the_systemd_units_command_uses_only_options_omniline_run_has() -> None:
    command = shlex.split(_unit()["Service"]["ExecStart"])
    assert command[0].endswith("/omniline") and command[1] == "run"
    given = [word.split("=")[0] for word in command[2:] if word.startswith("-")]
    assert {"-c", "--workers", "--log-format"} <= set(given)
    help_text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    for option in given:
        assert option in help_text, f"deploy/omniline.service uses {option}, which run lacks"


def test_the_systemd_unit_waits_longer_than_the_workers_are_given_to_stop() -> None:
    """SIGTERM gives the workers 30 s to finish before they are killed; systemd must not kill the
    supervisor first."""
    from omniline.workers import STOP_TIMEOUT

    service = _unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > STOP_TIMEOUT
