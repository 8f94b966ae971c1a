"""The ``omniline`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omniline.cli import cli
from omniline.testing import TemporaryPostgres

CONFIG = """
storage:
  url: sqlite:///db/omniline.db
server:
  port: {port}
lines:
  - id: support
    name: Support
    bot: omniline.demo.bot:bot
    channels:
      - type: webchat
        account: site
        settings: {{secret: "0123456789abcdef0123"}}
"""

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_file(tmp_path: Path, port: int = 8080) -> Path:
    path = tmp_path / "omniline.yaml"
    path.write_text(CONFIG.format(port=port), encoding="utf-8")
    return path


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["check-config", "-c", str(config_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "OK (1 line(s), 1 channel(s), 1 plugin(s))" in result.output


def test_check_config_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.format(port=8080).replace("account: site", "account: 'a b'"))
    result = runner.invoke(cli, ["check-config", "-c", str(path)])
    assert result.exit_code == 1
    assert f"{path}: lines[0].channels[0].account: String should match pattern" in result.output


def test_check_config_imports_the_bot(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.format(port=8080).replace("omniline.demo.bot:bot", "omniline.demo:nope"))
    result = runner.invoke(cli, ["check-config", "-c", str(path)])
    assert result.exit_code == 1
    assert "lines[0].bot: cannot import bot 'omniline.demo:nope'" in result.output


def test_db_upgrade_migrates_and_says_so(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    first = runner.invoke(cli, ["db", "upgrade", "-c", str(path)])
    assert first.exit_code == 0, first.output
    assert "migrated the database from empty to revision" in first.output
    again = runner.invoke(cli, ["db", "upgrade", "-c", str(path)])
    assert "the database is up to date" in again.output
    current = runner.invoke(cli, ["db", "current", "-c", str(path)])
    assert "up to date" in current.output


def test_run_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    path = config_file(tmp_path, port=free_port())
    result = runner.invoke(cli, ["run", "-c", str(path)])
    assert result.exit_code == 1
    assert "the database is empty" in result.output
    assert "run `omniline db upgrade -c CONFIG` first" in result.output


def test_plugins_lists_the_web_chat() -> None:
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "omniline.channels" in result.output and "webchat" in result.output


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float = 30) -> bytes:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"the process exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer in {deadline} s:\n{log.read_text()}")


def test_demo_starts_on_its_own_defaults_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "omniline", "demo", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/", proc, log)
        assert b"/channels/webchat/site/widget.js" in page
        script = wait_for(f"http://127.0.0.1:{port}/channels/webchat/site/widget.js", proc, log)
        assert b"OmnilineChat" in script
        console = wait_for(f"http://127.0.0.1:{port}/console/", proc, log)
        assert b"console.js" in console
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert f"http://127.0.0.1:{port}/" in output
    assert f"http://127.0.0.1:{port}/console/" in output
    passwords = json.loads((tmp_path / "omniline-demo" / "demo-passwords.json").read_text())
    for login in ("anna", "boris", "sam"):  # two operators and a supervisor, with their passwords
        assert f"{login:<8} {passwords[login]}" in output
    assert (tmp_path / "omniline-demo" / "omniline.db").exists()


def test_accounts_hash_password_gives_a_hash_the_config_takes(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["accounts", "hash-password"], input="long-secret\nlong-secret\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert hashed.startswith("$argon2id$") and "long-secret" not in result.output
    short = runner.invoke(cli, ["accounts", "hash-password"], input="short\nshort\n")
    assert short.exit_code == 1 and "8 characters" in short.output


def test_accounts_token_makes_a_token_the_api_accepts(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        + "operators: [{id: ann, name: Ann}]\n"
        + "accounts: [{login: ann, name: Ann, role: operator}]\n",
        encoding="utf-8",
    )
    assert runner.invoke(cli, ["db", "upgrade", "-c", str(path)]).exit_code == 0
    missing = runner.invoke(
        cli, ["accounts", "token", "-c", str(path), "--account", "ann", "--name", "x"]
    )
    assert missing.exit_code == 1 and "no account 'ann'" in missing.output

    async def start_once() -> None:  # the first start writes the config's accounts
        from omniline.app import Omniline
        from omniline.config.loader import load_config

        app = Omniline(load_config(path), serve_http=False)
        await app.start()
        await app.stop()

    asyncio.run(start_once())
    made = runner.invoke(
        cli, ["accounts", "token", "-c", str(path), "--account", "ann", "--name", "crm sync"]
    )
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    assert token.startswith("oml_")

    async def who() -> str | None:
        from omniline.console.accounts import Accounts
        from omniline.engine.clock import SystemClock
        from omniline.store import open_store

        store = await open_store(f"sqlite:///{tmp_path / 'db' / 'omniline.db'}", SystemClock())
        try:
            account = await Accounts(store.accounts, SystemClock(), session_lifetime=1).by_token(
                token
            )
            return account.id if account else None
        finally:
            await store.close()

    assert asyncio.run(who()) == "ann"


# --- a database that cannot be used: one clear error, no traceback, nothing left behind ----------

COMMANDS = [["db", "upgrade"], ["db", "current"], ["stats"], ["run"]]


def with_storage(tmp_path: Path, url: str) -> Path:
    """The config a user writes, with their ``storage.url``."""
    path = tmp_path / "omniline.yaml"
    text = CONFIG.format(port=free_port()).replace("sqlite:///db/omniline.db", url)
    path.write_text(text, encoding="utf-8")
    return path


def fails(command: list[str], config: Path) -> str:
    """Run ``omniline COMMAND -c CONFIG``: it must end with exit status 1 and one line of error,
    never an exception."""
    result = runner.invoke(cli, [*command, "-c", str(config)])
    assert not isinstance(result.exception, Exception), result.output
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_sqlite_path_that_is_a_folder_is_named_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    error = fails(command, with_storage(tmp_path, f"sqlite:///{folder}"))
    assert f"storage.url names {folder}, which is a folder: name a file in it" in error
    assert "cannot listen" not in error


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_sqlite_folder_under_a_file_is_named_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    database = tmp_path / "data" / "omniline.db"
    error = fails(command, with_storage(tmp_path, "sqlite:///data/omniline.db"))
    assert f"SQLite database {database}: {tmp_path / 'data'} is a file, not a folder" in error


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_sqlite_folder_that_cannot_be_created_is_named_by_db_upgrade(tmp_path: Path) -> None:
    folder = Path("/proc/omniline-data")  # nobody, not even root, makes folders in /proc
    error = fails(["db", "upgrade"], with_storage(tmp_path, f"sqlite:///{folder}/omniline.db"))
    assert f"cannot create the folder {folder} for the SQLite database" in error
    assert "create it, or point storage.url at a folder that can be" in error


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_sqlite_path_too_long_for_the_system_is_named(tmp_path: Path, command: list[str]) -> None:
    folder = tmp_path / ("x" * 300)  # longer than a file name may be
    error = fails(command, with_storage(tmp_path, f"sqlite:///{folder}/omniline.db"))
    assert "cannot keep the SQLite database at" in error and "File name too long" in error


@pytest.mark.parametrize("command", [["db", "current"], ["stats"], ["run"]], ids=" ".join)
def test_a_command_on_an_unmigrated_database_leaves_no_file_behind(
    tmp_path: Path, command: list[str]
) -> None:
    error = fails(command, with_storage(tmp_path, "sqlite:///data/omniline.db"))
    assert f"there is no file {tmp_path / 'data' / 'omniline.db'} yet" in error
    assert "run `omniline db upgrade -c CONFIG` first" in error
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_file_that_is_not_a_sqlite_database_is_named(tmp_path: Path, command: list[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: milk, eggs\n" * 100)
    error = fails(command, with_storage(tmp_path, "sqlite:///notes.txt"))
    assert f"{notes} is not a SQLite database" in error
    assert notes.read_text().startswith("shopping list")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_postgres_server_that_cannot_be_reached_is_named_without_its_password(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()  # nobody listens there
    url = f"postgresql://omniline:hunter2@127.0.0.1:{port}/omniline"
    error = fails(command, with_storage(tmp_path, url))
    assert (
        f"cannot reach the database at postgresql://omniline:***@127.0.0.1:{port}/omniline" in error
    )
    assert "hunter2" not in error


def test_a_postgres_database_that_does_not_exist_is_named(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = temporary_postgres.url.rsplit("/", 1)[0] + "/nosuchdb"
    for command in COMMANDS:
        error = fails(command, with_storage(tmp_path, url))
        assert "cannot use the database at postgresql://" in error
        assert 'database "nosuchdb" does not exist' in error


def test_a_database_a_newer_omniline_migrated_is_not_sent_to_db_upgrade(tmp_path: Path) -> None:
    import sqlite3

    path = with_storage(tmp_path, "sqlite:///omniline.db")
    assert runner.invoke(cli, ["db", "upgrade", "-c", str(path)]).exit_code == 0
    with sqlite3.connect(tmp_path / "omniline.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in COMMANDS:
        error = fails(command, path)
        assert "9999" in error and "does not know" in error
        assert "db upgrade" not in error


def test_run_on_a_port_in_use_says_it_cannot_listen(tmp_path: Path) -> None:
    path = with_storage(tmp_path, "sqlite:///omniline.db")
    assert runner.invoke(cli, ["db", "upgrade", "-c", str(path)]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = path.read_text().replace("port: ", f"port: {port} #")
        path.write_text(text)
        error = fails(["run"], path)
    assert f"cannot listen on 127.0.0.1:{port}" in error


def test_a_storage_url_of_another_database_names_the_file(tmp_path: Path) -> None:
    path = with_storage(tmp_path, "mysql://app@db/omniline")
    error = fails(["check-config"], path)
    assert f"{path}: storage.url: unsupported database 'mysql'" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "Invalid value for '--port'"),
        (["--data", "{tmp}/notes.txt"], "notes.txt: a part of that path is a file, not a folder"),
        (["--data", "{tmp}/notes.txt/demo"], "a part of that path is a file, not a folder"),
    ],
)
def test_demo_with_a_bad_argument_says_which(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(cli, ["demo", *args])
    assert not isinstance(result.exception, Exception), result.output
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("bot: omniline.demo.bot:bot", "bot: mybot:bot"),
            "lines[0].bot: cannot import bot 'mybot:bot': No module named 'mybot'",
        ),
        (
            ("lines:", "middlewares: [{type: audit}]\nlines:"),
            "middlewares[0]: no middleware plugin 'audit' is installed",
        ),
    ],
)
def test_run_names_a_bot_or_plugin_it_cannot_load_without_a_traceback(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = with_storage(tmp_path, "sqlite:///omniline.db")
    assert runner.invoke(cli, ["db", "upgrade", "-c", str(path)]).exit_code == 0
    path.write_text(path.read_text().replace(*change))
    error = fails(["run"], path)
    assert error.startswith(f"error: {path}: {message}")


def test_a_sqlite_url_with_two_slashes_says_to_write_three(tmp_path: Path) -> None:
    error = fails(["check-config"], with_storage(tmp_path, "sqlite://omniline.db"))
    assert "sqlite://omniline.db has two slashes" in error
    assert "write sqlite:///omniline.db (three slashes)" in error


def test_a_postgres_url_as_hosting_providers_write_it_is_taken(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = temporary_postgres.create_database("hosted").replace("postgresql://", "postgres://", 1)
    path = with_storage(tmp_path, url)
    result = runner.invoke(cli, ["db", "upgrade", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "migrated the database from empty" in result.output
