"""Line settings changed through the API are kept in the database: they outlive a restart, reach
every worker process, and ``omniline lines reset`` gives the line back to its config file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from omniline.app import Omniline
from omniline.cli import cli
from omniline.config.models import Config
from omniline.engine.texts import LocalizedText
from omniline.errors import OmnilineError
from omniline.model import ChannelRef
from omniline.testing import TemporaryPostgres
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

REF = ChannelRef(type="fake", account="test")


def settings(url: str) -> dict[str, Any]:
    return {
        "storage": {"url": url, "pool_size": 4},
        "server": {"port": 0},
        "operators": [{"id": "ann", "name": "Ann"}],
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "queue": ["ann"],
                "welcome": "Welcome from the config file",
                "channels": [{"type": "fake", "account": "test"}],
            }
        ],
        "accounts": [{"login": "root", "name": "Admin", "role": "admin", "password": "root-pw-1"}],
    }


@asynccontextmanager
async def running(url: str) -> AsyncIterator[tuple[Omniline, FakeChannel, Any]]:
    """An application, its fake channel, and an admin's API call (Bearer token)."""
    channel = FakeChannel(REF)
    app = Omniline(
        Config.model_validate(settings(url)),
        channel_plugins={"fake": fake_channel_plugin(channel)},
        migrate=True,
        recovery_grace=3600,
    )
    await app.start()
    assert app.console is not None
    token, _ = await app.console.accounts.create_token("root", "test")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(method, f"{app.url}/api/v1{path}", json=body) as answer:
                return answer.status, await answer.json()

        try:
            yield app, channel, call
        finally:
            await app.stop()


async def welcome_for(app: Omniline, channel: FakeChannel, client: str) -> str:
    await channel.receive(client, "hello", event_id=f"{client}-hello")
    await app.idle(paced=False)
    return channel.texts_to(client)[0]


async def test_an_api_validation_error_has_no_value_error_prefix(tmp_path: Path) -> None:
    async with running(f"sqlite:///{tmp_path / 'db.sqlite'}") as (_, _channel, call):
        status, error = await call("PATCH", "/lines/support", {"default_region": "XX"})
        assert status == 422
        assert error["error"]["fields"] == [
            {
                "field": "body.default_region",
                "message": "'XX' is not a country code phone numbers know (e.g. 'DE')",
            }
        ]


async def test_a_change_outlives_a_restart_until_the_line_is_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with running(url) as (app, channel, call):
        status, line = await call("PATCH", "/lines/support", {"welcome": "Welcome from the API"})
        assert status == 200, line
        assert line["settings"]["welcome"]["default"] == "Welcome from the API"
        assert await welcome_for(app, channel, "zoe") == "Welcome from the API"
        status, error = await call("PATCH", "/lines/support", {"response_timeout": -1})
        assert status == 422
        assert error["error"]["fields"][0]["field"] == "body.response_timeout"

    async with running(url) as (app, channel, call):
        status, line = await call("GET", "/lines/support")
        assert line["settings"]["welcome"]["default"] == "Welcome from the API"
        assert line["settings"]["response_timeout"] != -1
        assert await welcome_for(app, channel, "yan") == "Welcome from the API"

        path = cli_config(tmp_path, url)
        reset = await asyncio.to_thread(
            CliRunner().invoke, cli, ["lines", "reset", "-c", str(path), "support"]
        )
        assert reset.exit_code == 0, reset.output
        assert "line support: dropped the run-time changes of welcome" in reset.output
        assert app.line_changes is not None
        await app.line_changes.refresh()  # what the running process does every 2 s
        assert await welcome_for(app, channel, "kim") == "Welcome from the config file"
        status, line = await call("GET", "/lines/support")
        assert line["settings"]["welcome"]["default"] == "Welcome from the config file"

        again = await asyncio.to_thread(
            CliRunner().invoke, cli, ["lines", "reset", "-c", str(path), "support"]
        )
        assert "line support: no settings changed at run time" in again.output
        unknown = CliRunner().invoke(cli, ["lines", "reset", "-c", str(path), "nope"])
        assert unknown.exit_code != 0
        assert "no line 'nope'" in unknown.output


async def test_workers_on_one_postgresql_share_changes_and_none_is_lost(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "line_changes")
    async with running(url) as (one, one_channel, one_call), running(url) as (two, _, two_call):
        assert one.line_changes is not None and two.line_changes is not None
        # Both processes change different keys at once: the row lock merges them.
        answers = await asyncio.gather(
            one_call("PATCH", "/lines/support", {"welcome": "Changed on one"}),
            two_call("PATCH", "/lines/support", {"distribution": "evenly"}),
        )
        assert [status for status, _ in answers] == [200, 200]
        await one.line_changes.refresh()
        await two.line_changes.refresh()
        for app in (one, two):
            line = app.lines["support"].settings
            assert line.welcome is not None
            assert (line.welcome.default, line.distribution) == ("Changed on one", "evenly")
        assert await welcome_for(one, one_channel, "zoe") == "Changed on one"
        status, line = await two_call("GET", "/lines/support")
        assert (status, line["settings"]["distribution"]) == (200, "evenly")


async def test_a_running_process_picks_up_a_reset_by_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with running(url) as (app, _, call):
        assert app.line_changes is not None
        app.line_changes.interval = 0.05
        await asyncio.sleep(2.5)  # the watcher's first, default-length sleep is over
        status, _ = await call("PATCH", "/lines/support", {"welcome": "From the API"})
        assert status == 200
        path = cli_config(tmp_path, url)
        reset = await asyncio.to_thread(
            CliRunner().invoke, cli, ["lines", "reset", "-c", str(path), "support"]
        )
        assert reset.exit_code == 0, reset.output
        async with asyncio.timeout(10):  # no refresh() called: the watcher's own look
            while app.lines["support"].settings.welcome != welcome_in_config():  # noqa: ASYNC110
                await asyncio.sleep(0.05)


def cli_config(tmp_path: Path, url: str) -> Path:
    """The same database and line, as the file an operator of the server runs the CLI with."""
    path = tmp_path / "omniline.yaml"
    secret = "0123456789abcdef0123"
    path.write_text(
        f'storage: {{url: "{url}"}}\n'
        "lines:\n"
        "  - id: support\n"
        "    name: Support\n"
        f"    channels: [{{type: webchat, account: site, settings: {{secret: {secret}}}}}]\n"
    )
    return path


def welcome_in_config() -> Any:
    return Config.model_validate(settings("sqlite:///x")).lines[0].welcome


async def test_the_python_api_changes_a_line_for_good_and_leaves_its_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    welcome = LocalizedText(default="Hello", translations={"de": "Hallo"})
    async with running(url) as (app, _, _call):
        await app.set_queue("support", [])
        changed = await app.update_line("support", welcome=welcome, response_timeout=120)
        assert (changed.welcome, changed.response_timeout, changed.queue) == (welcome, 120, ())
        with pytest.raises(ValidationError, match="response_timeout"):
            await app.update_line("support", response_timeout=-5)
        with pytest.raises(OmnilineError, match="no line 'nope'"):
            await app.update_line("nope", response_timeout=5)
    async with running(url) as (app, _, _call):
        line = app.lines["support"].settings
        assert (line.welcome, line.response_timeout) == (welcome, 120)
