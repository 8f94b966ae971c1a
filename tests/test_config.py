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
            "lines[0].channels[0].settings.secret: the secret must be at least 16",
        ),
        (
            ("        settings:\n", "        settings:\n          colour: red\n"),
            "lines[0].channels[0].settings.colour: unknown key",
        ),
        (
            ("bot: omniline.demo.bot:bot", "bot: nocolon"),
            "lines[0].bot: expected an import path like 'mypackage.bot:router' (got 'nocolon')",
        ),
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
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).endswith(
        f"{path}: lines[1].channels[0]: channel webchat/site is attached to lines[0] already; "
        "a channel account belongs to one line"
    )


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


# --- errors at the key at fault, in words for whoever wrote the file -------------------------------

CHANNEL = GOOD[GOOD.index("      - type: webchat") :]

SECOND_LINE = """  - id: sales
    name: Sales
    queue: [anna]
    channels:
      - type: webchat
        account: shop
        settings: {secret: "0123456789abcdef0123"}
"""


def refused(tmp_path: Path, text: str) -> str:
    """The one line that names what is wrong with ``text`` (and that it is the file's)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "Value error" not in message
    [header, line] = message.splitlines()
    assert header == f"{path}: invalid configuration:"
    prefix = f"  {path}: "
    assert line.startswith(prefix)
    return line[len(prefix) :]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_SECRET", "s" * 32)


@pytest.mark.usefixtures("secret")
def test_a_duplicate_line_id_is_reported_at_the_second_line_id(tmp_path: Path) -> None:
    text = GOOD + SECOND_LINE.replace("id: sales", "id: support")
    assert refused(tmp_path, text) == (
        "lines[1].id: 'support' is the id of lines[0] already; give each line an id of its own"
    )


@pytest.mark.usefixtures("secret")
def test_a_queue_naming_an_unknown_operator_is_reported_at_its_place_in_the_queue(
    tmp_path: Path,
) -> None:
    text = GOOD + SECOND_LINE.replace("queue: [anna]", "queue: [anna, boris]")
    assert refused(tmp_path, text) == (
        "lines[1].queue[1]: no operator 'boris' in 'operators' (defined: anna); "
        "a queue names operators defined there"
    )


@pytest.mark.usefixtures("secret")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("lines:", "  - {id: anna, name: Anna again}\nlines:"),
            "operators[1].id: 'anna' is the id of operators[0] already; "
            "give each operator an id of its own",
        ),
        (
            ("    name: Support\n", "    name: Support\n    queue: [anna, anna]\n"),
            "lines[0].queue[1]: operator 'anna' is in the queue twice (also at queue[0])",
        ),
        (
            ("lines:", "accounts:\n  - {login: sam, name: Sam, operator: sam}\nlines:"),
            "accounts[0].operator: no operator 'sam' in 'operators' (defined: anna)",
        ),
        (
            ("lines:", "accounts:\n  - {login: sam, name: Sam}\nlines:"),
            "accounts[0].operator: account 'sam' has the role operator: give the operator it "
            "acts as here (or make its login an operator's id)",
        ),
        (
            ("lines:", "accounts:\n  - {login: anna, name: Anna, lines: [support, sale]}\nlines:"),
            "accounts[0].lines[1]: no line 'sale' (the lines: support)",
        ),
        (
            ("lines:", "accounts:\n  - {login: anna, name: A}\n  - {login: anna, name: B}\nlines:"),
            "accounts[1].login: 'anna' is the login of accounts[0] already",
        ),
    ],
)
def test_cross_reference_errors_are_reported_at_the_key_at_fault(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    assert refused(tmp_path, GOOD.replace(old, new, 1)) == expected


@pytest.mark.usefixtures("secret")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    name: Support\n", "    name: Support\n    default_region: XX\n"),
            "lines[0].default_region: 'XX' is not a country code phone numbers know (e.g. 'DE')",
        ),
        (
            ("    name: Support\n", "    name: Support\n    welcome: 'Hi {nme}'\n"),
            "lines[0].welcome.default: unknown placeholder {nme}; use one of {client_name}, "
            "{line_name}, {operator_name} (got 'Hi {nme}')",
        ),
        (
            (
                "    name: Support\n",
                "    name: Support\n    working_hours:\n      timezone: Europe/Berln\n"
                "      weekly: {mon-fri: '09:00-18:00'}\n",
            ),
            "lines[0].working_hours.timezone: 'Europe/Berln' is not a known IANA time zone "
            "(e.g. 'Europe/Berlin', 'UTC')",
        ),
        (
            ("lines:", "middlewares:\n  - {type: audit, before: bot, after: bot}\nlines:"),
            "middlewares[0]: give before or after, not both",
        ),
    ],
)
def test_validator_messages_have_no_value_error_prefix(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    assert refused(tmp_path, GOOD.replace(old, new, 1)) == expected


@pytest.mark.usefixtures("secret")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            (CHANNEL, "      - webchat\n"),
            "lines[0].channels[0]: expected a mapping of keys (key: value) here (got 'webchat')",
        ),
        (
            ("    name: Support\n", "    name: Support\n    queue: anna\n"),
            "lines[0].queue: expected a list (items on lines starting with '- ', or [a, b]) "
            "(got 'anna')",
        ),
        (
            ("  - {id: anna, name: Anna}", "  anna: Anna"),
            "operators: expected a list (items on lines starting with '- ', or [a, b])",
        ),
        (
            ("    name: Support\n", "    name: Support\n    rating: yes\n"),
            "lines[0].rating: expected a mapping of keys (key: value) here (got true)",
        ),
    ],
)
def test_shape_errors_name_yaml_shapes_not_pydantic_classes(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    assert refused(tmp_path, GOOD.replace(old, new, 1)) == expected


def test_a_file_that_is_not_utf8_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "omniline.yaml"
    path.write_bytes(GOOD.replace("name: Support", "name: Support\xe9").encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert (
        str(err.value) == f"{path}: not UTF-8 text (line 10 has byte 0xe9): save the file as UTF-8"
    )


@pytest.mark.usefixtures("secret")
def test_a_sqlite_path_from_the_home_folder_is_not_a_folder_named_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, GOOD.replace("sqlite:///data/", "sqlite:///~/data/")))
    assert config.storage.url == f"sqlite:///{tmp_path / 'home' / 'data' / 'omniline.db'}"
