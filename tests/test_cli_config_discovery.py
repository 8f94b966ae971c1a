"""Which configuration file a command reads: ``-c``, else ``OMNILINE_CONFIG``, else
``./omniline.yaml``; and when there is none, one error that says where it looked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from omniline.cli import cli

CONFIG = """
storage:
  url: sqlite:///{name}.db
lines:
  - id: {name}
    name: Line {name}
    channels:
      - type: webchat
        account: site
        settings: {{secret: "0123456789abcdef0123"}}
"""

COMMANDS = [
    ["run"],
    ["check-config"],
    ["db", "upgrade"],
    ["db", "current"],
    ["db", "backup"],
    ["stats"],
    ["lines", "reset", "support"],
    ["accounts", "token", "--account", "ann", "--name", "x"],
]
"""Every command that reads a configuration file."""

runner = CliRunner()


def write(path: Path, name: str) -> Path:
    path.write_text(CONFIG.format(name=name), encoding="utf-8")
    return path


def checked(monkeypatch: pytest.MonkeyPatch, args: list[str], env: str | None = None) -> str:
    """``omniline check-config ARGS``, with OMNILINE_CONFIG set to ``env`` or unset; the file it
    read, by the line id in it."""
    if env is None:
        monkeypatch.delenv("OMNILINE_CONFIG", raising=False)
    else:
        monkeypatch.setenv("OMNILINE_CONFIG", env)
    result = runner.invoke(cli, ["check-config", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_config_comes_from_c_then_the_environment_then_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "omniline.yaml", "here")
    named = write(tmp_path / "named.yaml", "named")
    given = write(tmp_path / "given.yaml", "given")
    assert checked(monkeypatch, ["-c", str(given)], env=str(named)).startswith(f"{given}: OK")
    assert checked(monkeypatch, [], env=str(named)).startswith(f"{named}: OK")
    assert checked(monkeypatch, []).startswith("omniline.yaml: OK")
    assert checked(monkeypatch, [], env="").startswith("omniline.yaml: OK")  # empty: not set


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_command_without_a_config_says_where_it_looked_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMNILINE_CONFIG", raising=False)
    result = runner.invoke(cli, command)
    assert not isinstance(result.exception, Exception), result.output
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line == (
        "error: no configuration file: none given with -c/--config, OMNILINE_CONFIG is not set, "
        f"and there is no omniline.yaml in {tmp_path}; give one with -c FILE or "
        "OMNILINE_CONFIG=FILE (omniline demo runs without one)"
    )


def test_omniline_config_naming_a_missing_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "omniline.yaml", "here")  # not taken instead of the file named
    monkeypatch.setenv("OMNILINE_CONFIG", str(tmp_path / "gone.yaml"))
    result = runner.invoke(cli, ["run"])
    assert result.exit_code == 1
    assert f"error: OMNILINE_CONFIG names {tmp_path / 'gone.yaml'}, which is not a file" in (
        result.output
    )


def test_a_config_given_with_c_that_is_not_there_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "omniline.yaml", "here")  # not taken instead of the file given
    result = runner.invoke(cli, ["check-config", "-c", "other.yaml"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: other.yaml: no such file"
