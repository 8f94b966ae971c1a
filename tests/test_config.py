"""Configuration files: validation errors name the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniline import ConfigError, load_config

GOOD = """
storage:
  url: sqlite:///data/omniline.db
server:
  port: 8081
operators:
  - {id: anna, name: Anna}
lines:
  - id: support
    name: Support
    bot: omniline.demo.bot:bot
    channels:
      - type: webchat
        account: site
        settings:
          secret: ${WEBCHAT_SECRET}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "omniline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)
    config = load_config(write(tmp_path, GOOD))
    assert config.lines[0].channels[0].settings == {"secret": "s" * 32}
    assert config.server.port == 8081
    # a relative SQLite path is taken from the config file's folder
    assert config.storage.url == f"sqlite:///{(tmp_path / 'data' / 'omniline.db').resolve()}"


def test_a_missing_environment_variable_is_named_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBCHAT_SECRET", raising=False)
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f"{path}: lines[0].channels[0].settings.secret: "
        "environment variable WEBCHAT_SECRET is not set"
    )


def test_an_environment_default_is_used_when_the_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBCHAT_SECRET", raising=False)
    text = GOOD.replace("${WEBCHAT_SECRET}", "${WEBCHAT_SECRET:-" + "d" * 20 + "}")
    config = load_config(write(tmp_path, text))
    assert config.lines[0].channels[0].settings["secret"] == "d" * 20


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("port: 8081", "port: eighty"), "server.port: Input should be a valid integer"),
        (("id: support", "id: Support Line"), "lines[0].id: String should match pattern"),
        (("    name: Support\n", ""), "lines[0].name: this key is required"),
        (("server:", "sever:"), "sever: unknown key (check the spelling)"),
        (("type: webchat", "type: fax"), "lines[0].channels[0].type: no channel plugin 'fax'"),
        (
            ("secret: ${WEBCHAT_SECRET}", "secret: short"),
            "lines[0].channels[0].settings.secret: Value error, the secret must be at least 16",
        ),
        (
            ("        settings:\n", "        settings:\n          colour: red\n"),
            "lines[0].channels[0].settings.colour: unknown key",
        ),
        (("bot: omniline.demo.bot:bot", "bot: nocolon"), "lines[0].bot: Value error"),
    ],
)
def test_errors_name_the_file_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], expected: str
) -> None:
    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: {expected}" in str(err.value)


def test_two_lines_cannot_share_a_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)
    second = GOOD.split("lines:\n", 1)[1].replace("id: support", "id: sales")
    path = write(tmp_path, GOOD + second)
    with pytest.raises(ConfigError, match="channel webchat/site is attached twice"):
        load_config(path)


def test_broken_yaml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "lines:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        load_config(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_the_file_must_hold_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))


def test_an_in_memory_database_is_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from omniline.cli import cli

    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)
    path = write(tmp_path, GOOD.replace("sqlite:///data/omniline.db", '"sqlite:///:memory:"'))
    result = CliRunner().invoke(cli, ["check-config", "-c", str(path)])
    assert result.exit_code == 1
    assert "an in-memory database would lose every message on restart" in result.output


def test_database_url_errors_never_show_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from omniline.cli import cli

    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)
    bad = "postgresql://app:hunter2@db:notaport/omniline"
    path = write(tmp_path, GOOD.replace("sqlite:///data/omniline.db", bad))
    result = CliRunner().invoke(cli, ["check-config", "-c", str(path)])
    assert result.exit_code == 1
    assert f"{path}: storage.url: not a database URL" in result.output
    assert "hunter2" not in result.output


def test_crm_and_desk_settings_are_checked_by_their_plugins(tmp_path: Path) -> None:
    from omniline.config.loader import parse_config

    webchat = {"type": "webchat", "account": "a", "settings": {"secret": "s" * 32}}
    base = {"lines": [{"id": "support", "name": "S", "channels": [webchat]}]}
    with pytest.raises(ConfigError, match=r"crm\.type: no CRM plugin 'nosuch'"):
        parse_config({**base, "crm": {"type": "nosuch"}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"desks\[0\]\.settings"):
        parse_config(
            {**base, "desks": [{"type": "telegram", "settings": {"token": "1:x"}}]},
            source="x.yaml",
        )
    with pytest.raises(ConfigError) as bad:
        parse_config(
            {
                **base,
                "crm": {
                    "type": "bitrix24",
                    "settings": {"webhook_url": "ftp://portal/rest/1/SECRETCODE/"},
                },
            },
            source="x.yaml",
        )
    assert "SECRETCODE" not in str(bad.value)
