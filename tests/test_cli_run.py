"""``omniline run`` as a user starts it: options over the config file, and what it prints once it
listens. Also ``db backup`` while it runs, and the documented restore."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from omniline.cli import cli
from tests.test_cli import free_port

START_DEADLINE = 60.0
"""Seconds a process may take to answer (two cores shared with other test runs)."""
WEBHOOK_SECRET = "tg-webhook-secret-4f1e"
TOKEN = "123456:telegram-token-never-printed"

CONFIG = """
storage:
  url: sqlite:///data/omniline.db
server:
  host: 127.0.0.2
  port: {config_port}
log_level: WARNING
lines:
  - id: support
    name: Support
    bot: omniline.demo.bot:bot
    channels:
      - type: webchat
        account: site
        settings: {{secret: "0123456789abcdef0123"}}
{more}
"""

TELEGRAM = f"""
      - type: telegram
        account: main
        settings:
          token: "{TOKEN}"
          webhook_secret: "{WEBHOOK_SECRET}"
          api_base_url: http://127.0.0.1:9
"""

runner = CliRunner()


def config_file(folder: Path, more: str = "") -> Path:
    path = folder / "omniline.yaml"
    path.write_text(CONFIG.format(config_port=free_port(), more=more), encoding="utf-8")
    result = runner.invoke(cli, ["db", "upgrade", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return path


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path, base: str) -> None:
        self.proc, self.out, self.err, self.base = proc, out, err, base

    def logs(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(f"{self.base}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def wait_until(self, check: Any, what: str) -> Any:
        end = time.monotonic() + START_DEADLINE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"omniline exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                found = check()
            except OSError:
                found = None
            if found:
                return found
            time.sleep(0.1)
        pytest.fail(f"{what} did not happen in {START_DEADLINE} s:\n{self.logs()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@contextmanager
def omniline(folder: Path, *args: str, port: int, host: str = "127.0.0.1") -> Iterator[Running]:
    """``python -m omniline ARGS`` in ``folder``, once it answers ``/healthz``."""
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "omniline", *args],
            cwd=folder,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    running = Running(proc, out, err, f"http://{host}:{port}")
    try:
        running.wait_until(lambda: running.get("/healthz") is not None, "/healthz answering")
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_options_override_the_config_and_it_prints_where_things_are(tmp_path: Path) -> None:
    config_file(tmp_path, more=TELEGRAM)  # ./omniline.yaml, found without -c
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    with omniline(tmp_path, "run", *args, "--log-format", "json", port=port) as running:
        base = running.base
        printed = running.wait_until(
            lambda: "Webhook" in running.out.read_text() and running.out.read_text(),
            "the start-up text",
        )
        assert running.stop() == 0
    assert f"omniline is running at {base}\n" in printed
    assert f"Operator console:  {base}/console/" in printed
    assert f'<script src="{base}/channels/webchat/site/widget.js" async></script>' in printed
    assert f"Webhook (telegram/main):  POST {base}/channels/telegram/main/webhook" in printed
    logged = running.err.read_text()
    records = [json.loads(line) for line in logged.splitlines()]  # every line one JSON object
    assert {"logger": "omniline.cli", "message": "Stopping: finishing work in flight..."} in [
        {"logger": r["logger"], "message": r["message"]} for r in records
    ]
    assert any(r["level"] == "INFO" for r in records)  # --log-level over the file's WARNING
    for secret in (WEBHOOK_SECRET, TOKEN):
        assert secret not in printed and secret not in logged


def test_demo_logs_one_json_object_per_line_when_asked(tmp_path: Path) -> None:
    port = free_port()
    args = ["--data", str(tmp_path / "demo"), "--port", str(port), "--log-format", "json"]
    with omniline(tmp_path, "demo", *args, "--log-level", "INFO", port=port) as running:
        running.wait_until(lambda: "Console logins" in running.out.read_text(), "the demo's text")
        assert running.stop() == 0
    records = [json.loads(line) for line in running.err.read_text().splitlines()]
    assert {"logger": "omniline.cli", "message": "Stopping: finishing work in flight..."} in [
        {"logger": r["logger"], "message": r["message"]} for r in records
    ]


# --- db backup, and the restore the docs describe -------------------------------------------------


def here(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def visitor_history(running: Running, token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    found = running.get("/channels/webchat/site/api/messages?after=0", headers)
    return [m["text"] for m in found["messages"]]


def say(running: Running, token: str, text: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"client_message_id": text.replace(" ", "-"), "text": text}
    running.post("/channels/webchat/site/api/messages", body, headers)


def test_a_backup_taken_while_omniline_runs_restores_with_its_dialogs_and_messages(
    tmp_path: Path,
) -> None:
    config = config_file(tmp_path)
    port = free_port()
    with omniline(tmp_path, "run", "-c", str(config), *here(port), port=port) as running:
        token = running.post("/channels/webchat/site/api/visitors", {})["token"]
        say(running, token, "before the backup")
        before = running.wait_until(
            lambda: (h := visitor_history(running, token)) and len(h) >= 2 and h,
            "the bot's answer",
        )
        backup = tmp_path / "backups"
        backup.mkdir()
        result = runner.invoke(cli, ["db", "backup", "-c", str(config), "--to", str(backup)])
        assert result.exit_code == 0, result.output
        [written] = backup.iterdir()
        assert result.output.startswith(f"backed up the database to {written} (schema revision ")
        say(running, token, "after the backup")
        running.wait_until(
            lambda: "after the backup" in visitor_history(running, token), "the second message"
        )
        assert running.stop() == 0

    # the restore in docs/configuration.md: stopped, the backup copied into place, started
    database = tmp_path / "data" / "omniline.db"
    for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(written, database)
    port = free_port()
    with omniline(tmp_path, "run", "-c", str(config), *here(port), port=port) as running:
        restored = visitor_history(running, token)
        assert restored[: len(before)] == before and "before the backup" in restored
        assert "after the backup" not in restored
        say(running, token, "after the restore")
        running.wait_until(
            lambda: len(visitor_history(running, token)) >= len(restored) + 2,
            "an answer after the restore",
        )
        assert running.stop() == 0


def test_db_backup_refuses_postgresql_and_says_to_use_pg_dump(tmp_path: Path) -> None:
    path = tmp_path / "omniline.yaml"
    path.write_text(
        CONFIG.format(config_port=8080, more="").replace(
            "sqlite:///data/omniline.db", "postgresql://omniline:hunter2@db:5432/omniline"
        ),
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["db", "backup", "-c", str(path)])
    assert result.exit_code == 1
    assert not isinstance(result.exception, Exception)
    assert "back up PostgreSQL with its own tool, pg_dump" in result.output
    assert "pg_dump --format=custom --file=omniline.dump" in result.output
    assert "hunter2" not in result.output


def test_db_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    target = tmp_path / "backup.db"
    target.write_text("yesterday's backup")
    result = runner.invoke(cli, ["db", "backup", "-c", str(config), "--to", str(target)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {target} is there already: give another name with --to"
    assert target.read_text() == "yesterday's backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
