"""The log of a real run: no configured secret in it at any level, in either format, and JSON lines
that say which dialog, line and channel a record is about.

``omniline run`` runs as a subprocess at DEBUG on PostgreSQL (a password in ``storage.url``), with
Telegram (webhook mode and its secret), VK, Viber and the web chat on one line, the Telegram desk
and the Bitrix24 CRM, all against the plugins' local fakes in this process, and console accounts
with passwords. The session drives them as a busy day would: valid updates and ones with a wrong
secret or signature, a wrong password and a wrong API token, an operator logged in with a session
cookie and an API token who answers every client, platforms that answer 401 and 500, and outbox
retries. Then the process stops and its whole output is searched for every secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from omniline_bitrix24 import testing as bitrix_fake
from omniline_telegram import testing as telegram_fake
from omniline_viber import testing as viber_fake
from omniline_vk import testing as vk_fake

from omniline.config import Config
from omniline.log_context import log_context
from omniline.logs import config_secrets, configure_logging, hide_secrets
from omniline.store import upgrade
from omniline.testing.postgres import TemporaryPostgres

ACCOUNT = "shop"
PG_PASSWORD = "pg-Pa55word-7f3e"
ADMIN_PASSWORD = "admin-pw-9c1d2e"
ANNA_PASSWORD = "anna-pw-4b8a7f"
WEBCHAT_SECRET = "webchat-secret-0a9b8c7d6e5f"
DESK_USER = 1111
CONFIGURED = {
    "Telegram bot token": telegram_fake.TOKEN,
    "Telegram webhook secret": telegram_fake.SECRET,
    "Telegram desk token": telegram_fake.DESK_TOKEN,
    "VK access token": vk_fake.TOKEN,
    "VK secret key": vk_fake.SECRET,
    "VK confirmation code": vk_fake.CONFIRMATION,
    "Viber auth token": viber_fake.TOKEN,
    "Bitrix24 webhook code": bitrix_fake.CODE,
    "web chat secret": WEBCHAT_SECRET,
    "PostgreSQL password": PG_PASSWORD,
    "admin's password": ADMIN_PASSWORD,
    "anna's password": ANNA_PASSWORD,
}
"""Every secret the config holds, by what it is."""


@dataclass
class RunLog:
    output: str
    """stdout and stderr of ``omniline run``."""
    secrets: dict[str, str]
    """What must not be in it: the config's secrets and those made at run time."""
    dialogs: dict[str, int]
    """channel type -> the id of the dialog its client opened."""


def redirect_loop() -> web.Application:
    """A Bot API behind a broken proxy: every call is sent round in circles, so aiohttp gives up
    with an error that prints the URL, and the URL holds the bot's token."""

    async def again(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(request.url))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", again)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


def config(port: int, database: str, fakes: dict[str, str], log_format: str) -> dict[str, Any]:
    return {
        "log_level": "DEBUG",
        "log_format": log_format,
        "storage": {"url": database},
        "server": {"host": "127.0.0.1", "port": port},
        "outbox": {"base_delay": 0.05, "max_delay": 0.2, "poll_interval": 0.1},
        "console": {"offline_after": None},
        "operators": [{"id": "anna", "name": "Anna", "capacity": 20}],
        "accounts": [
            {"login": "root", "name": "Root", "role": "admin", "password": ADMIN_PASSWORD},
            {"login": "anna", "name": "Anna", "password": ANNA_PASSWORD},
        ],
        "crm": {
            "type": "bitrix24",
            "settings": {"webhook_url": fakes["bitrix24"], "operators": {"anna": 5}},
        },
        "desks": [
            {
                "type": "telegram",
                "settings": {
                    "token": telegram_fake.DESK_TOKEN,
                    "api_base_url": fakes["desk"],
                    "group_id": telegram_fake.GROUP_ID,
                    "operators": {"anna": DESK_USER},
                    "poll_timeout": 0,
                    "retry_delay": 0.2,
                    "feed_interval": 0.2,
                },
            }
        ],
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "queue": ["anna"],
                "channels": [
                    {
                        "type": "telegram",
                        "account": ACCOUNT,
                        "settings": {
                            "token": telegram_fake.TOKEN,
                            "api_base_url": fakes["telegram"],
                            "webhook_secret": telegram_fake.SECRET,
                            "webhook_url": f"http://127.0.0.1:{port}/channels/telegram/shop/webhook",
                            "per_chat_rate": 50,
                        },
                    },
                    {
                        "type": "vk",
                        "account": ACCOUNT,
                        "settings": {
                            "token": vk_fake.TOKEN,
                            "api_base_url": fakes["vk"],
                            "group_id": vk_fake.GROUP_ID,
                            "secret": vk_fake.SECRET,
                            "confirmation": vk_fake.CONFIRMATION,
                            "per_chat_rate": 50,
                        },
                    },
                    {
                        "type": "viber",
                        "account": ACCOUNT,
                        "settings": {
                            "auth_token": viber_fake.TOKEN,
                            "api_base_url": fakes["viber"],
                            "webhook_url": f"http://127.0.0.1:{port}/channels/viber/shop/webhook",
                            "webhook_retry_delay": 0.2,
                        },
                    },
                    {"type": "webchat", "account": ACCOUNT, "settings": {"secret": WEBCHAT_SECRET}},
                ],
            }
        ],
    }


async def omniline(*args: str, out: Path) -> asyncio.subprocess.Process:
    with out.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "omniline",
            *args,
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def scripted_session(folder: Path, database: str, log_format: str) -> RunLog:
    secrets = dict(CONFIGURED)
    dialogs: dict[str, int] = {}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = folder / "output.log"
    telegram, vk = telegram_fake.FakeTelegram(), vk_fake.FakeVk()
    telegram_server = await telegram_fake.serve(telegram)
    try:
        async with (
            TestServer(redirect_loop(), host="127.0.0.1") as desk_server,
            TestServer(vk.application(), host="127.0.0.1") as vk_server,
            viber_fake.fake_viber() as viber,
            bitrix_fake.fake_bitrix24() as portal,
            aiohttp.ClientSession(base_url=base) as http,
        ):
            vk.server = vk_server
            fakes = {
                "telegram": str(telegram_server.make_url("")).rstrip("/"),
                "desk": str(desk_server.make_url("")).rstrip("/"),
                "vk": vk.api_url,
                "viber": viber.url,
                "bitrix24": portal.webhook_url,
            }
            path = folder / "omniline.yaml"
            path.write_text(json.dumps(config(port, database, fakes, log_format)))
            await upgrade(database)
            # The platforms refuse a call of each kind once: a 401 and a server error each, and
            # the desk's Bot API is behind a proxy that sends every call round in circles.
            telegram.fail_next("sendMessage", 401, "Unauthorized")
            telegram.fail_next("sendMessage", 500, "Internal Server Error")
            vk.failures.append(vk_fake.FakeVk.error(5, "User authorization failed"))
            viber.script.append(viber_fake.Answer(status=500))
            portal.fail("crm.duplicate.findbycomm", "NO_AUTH_FOUND")
            server = await omniline("run", "-c", str(path), out=out)
            try:
                await drive(http, telegram, vk, viber, portal, secrets, dialogs)
            finally:
                server.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(server.wait(), 30)
            assert code == 0, out.read_text()
    finally:
        await telegram_server.close()
    return RunLog(out.read_text(), secrets, dialogs)


async def drive(
    http: aiohttp.ClientSession,
    telegram: telegram_fake.FakeTelegram,
    vk: vk_fake.FakeVk,
    viber: viber_fake.FakeViber,
    portal: bitrix_fake.FakeBitrix24,
    secrets: dict[str, str],
    dialogs: dict[str, int],
) -> None:
    async def up() -> bool:
        try:
            async with http.get("/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(up, "omniline serves", within=120)  # a loaded machine
    await eventually(lambda: _true(viber.registered.is_set()), "the Viber webhook is registered")

    # The console: a wrong password, then anna logs in and makes an API token.
    wrong = {"login": "anna", "password": "not-her-password"}
    async with http.post("/api/v1/session", json=wrong) as response:
        assert response.status == 401
    async with http.post(
        "/api/v1/session", json={"login": "anna", "password": ANNA_PASSWORD}
    ) as response:
        assert response.status == 200
        csrf = (await response.json())["csrf_token"]
        secrets["the session cookie"] = response.cookies["omniline_session"].value
        secrets["the CSRF token"] = csrf
    session = {"X-CSRF-Token": csrf, "Cookie": f"omniline_session={secrets['the session cookie']}"}
    async with http.post("/api/v1/tokens", json={"name": "script"}, headers=session) as response:
        assert response.status == 201
        token = (await response.json())["token"]
        secrets["anna's API token"] = token
    api = {"Authorization": f"Bearer {token}"}
    async with http.get("/api/v1/me", headers={"Authorization": "Bearer wrong.token"}) as response:
        assert response.status == 401
    for path, body in (
        ("/api/v1/operators/anna", {"presence": "online"}),
        ("/api/v1/operators/anna/shift", {"action": "start"}),
    ):
        method = http.patch if path.endswith("anna") else http.post
        async with method(path, json=body, headers=api) as response:
            assert response.status == 200, await response.text()

    # Four clients write; each platform also sends one call with a wrong secret.
    hook = "/channels/telegram/shop/webhook"
    update = telegram_fake.text_update(1, "hello from Telegram")
    bad = {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}
    async with http.post(hook, json=update, headers=bad) as response:
        assert response.status in (401, 403)
    good = {"X-Telegram-Bot-Api-Secret-Token": telegram_fake.SECRET}
    async with http.post(hook, json=update, headers=good) as response:
        assert response.status == 200

    event = {**vk_fake.message_new("vk-1", 4242, "hello from VK"), "secret": vk_fake.SECRET}
    for secret in ("wrong-secret", vk_fake.SECRET):
        async with http.post(
            "/channels/vk/shop/webhook", json={**event, "secret": secret}
        ) as response:
            assert response.status in (200, 401, 403)
    confirm = {"type": "confirmation", "group_id": vk_fake.GROUP_ID, "secret": vk_fake.SECRET}
    async with http.post("/channels/vk/shop/webhook", json=confirm) as response:
        assert await response.text() == vk_fake.CONFIRMATION

    message = viber_fake.message_update(7001, {"type": "text", "text": "hello from Viber"})
    body = json.dumps(message).encode()
    for signature in ("0" * 64, viber_fake.sign(body)):
        async with http.post(
            "/channels/viber/shop/webhook",
            data=body,
            headers={"Content-Type": "application/json", "X-Viber-Content-Signature": signature},
        ) as response:
            assert response.status in (200, 401, 403)

    async with http.post("/channels/webchat/shop/api/visitors", json={}) as response:
        visitor = await response.json()
    secrets["the visitor's token"] = visitor["token"]
    async with http.post(
        "/channels/webchat/shop/api/messages",
        json={"client_message_id": "first-message", "text": "hello from the web"},
        headers={"Authorization": "Bearer forged.token"},
    ) as response:
        assert response.status == 401
    async with http.post(
        "/channels/webchat/shop/api/messages",
        json={"client_message_id": "first-message", "text": "call me: +49 30 1234567"},
        headers={"Authorization": f"Bearer {visitor['token']}"},
    ) as response:
        assert response.status in (200, 201), await response.text()

    # anna takes all four dialogs and answers each; the platforms refuse the first tries.
    async def offered() -> bool:
        async with http.get("/api/v1/dialogs", headers=api) as response:
            found = (await response.json())["items"]
        for item in found:
            dialogs[item["client"]["channel"]["type"]] = item["id"]
        return len(dialogs) == 4

    await eventually(offered, "four dialogs reach anna")
    await eventually(lambda: _true(bool(portal.calls)), "the CRM asks Bitrix24 about the client")
    viber.script.append(viber_fake.Answer(status=500))
    for dialog_id in dialogs.values():
        for action, body in (("accept", {}), ("reply", {"text": "Hello, how can I help?"})):
            async with http.post(
                f"/api/v1/dialogs/{dialog_id}/{action}", json=body, headers=api
            ) as response:
                assert response.status == 200, await response.text()
    await eventually(
        lambda: _true(len(telegram.of("sendMessage")) >= 3), "Telegram's send is retried"
    )
    await eventually(lambda: _true(len(viber.sent) >= 1), "Viber's send is retried")
    await eventually(
        lambda: _true(sum(1 for name, _ in vk.calls if name == "messages.send") >= 1),
        "VK is asked to send",
    )


async def _true(value: bool) -> bool:
    return value


def run_session(folder: Path, postgres: TemporaryPostgres, log_format: str) -> RunLog:
    database = postgres.create_database(f"logs_{log_format}")
    with_password = database.replace("postgres@", f"postgres:{PG_PASSWORD}@", 1)
    assert PG_PASSWORD in with_password
    return asyncio.run(scripted_session(folder, with_password, log_format))


@pytest.fixture(scope="module")
def human_log(
    temporary_postgres: TemporaryPostgres, tmp_path_factory: pytest.TempPathFactory
) -> RunLog:
    return run_session(tmp_path_factory.mktemp("human"), temporary_postgres, "human")


@pytest.fixture(scope="module")
def json_log(
    temporary_postgres: TemporaryPostgres, tmp_path_factory: pytest.TempPathFactory
) -> RunLog:
    return run_session(tmp_path_factory.mktemp("json"), temporary_postgres, "json")


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_no_secret_is_logged_at_debug(request: pytest.FixtureRequest, log_format: str) -> None:
    run: RunLog = request.getfixturevalue(f"{log_format}_log")
    assert "processed" in run.output  # the log is there, at DEBUG
    leaked = {
        what: [line for line in run.output.splitlines() if value in line][:3]
        for what, value in run.secrets.items()
        if value in run.output
    }
    assert not leaked


def test_json_lines_say_which_dialog_line_and_channel(json_log: RunLog) -> None:
    records = [json.loads(line) for line in json_log.output.splitlines() if line.startswith("{")]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    processed = [r for r in records if r["message"].startswith("event ")]
    by_channel = {r.get("channel", "").split("/")[0]: r for r in processed}
    for channel_type, dialog_id in json_log.dialogs.items():
        record = by_channel[channel_type]
        assert record["dialog_id"] == dialog_id
        assert record["line_id"] == "support"
        assert record["channel"] == f"{channel_type}/{ACCOUNT}"
        assert "operator_id" not in record  # a client's message: no operator's ids carried over


# --- the pieces, in this process ------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[str]]]:
    """omniline's logging set up as ``run`` does (human format), into a buffer; restored after."""
    buffer = io.StringIO()
    root = logging.getLogger()
    before, level = root.handlers[:], root.level
    with contextlib.redirect_stderr(buffer):
        configure_logging("DEBUG")
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        root.handlers[:] = before
        root.setLevel(level)


def test_a_configured_secret_is_masked_in_the_message_and_the_traceback(
    log_lines: Callable[[], list[str]],
) -> None:
    hide_secrets(["s3cret-value-for-masking"])
    log = logging.getLogger("omniline.test")
    try:
        raise RuntimeError("refused with s3cret-value-for-masking")
    except RuntimeError:
        log.exception("calling %s failed", "https://x.example/s3cret-value-for-masking/")
    output = "\n".join(log_lines())
    assert "s3cret-value-for-masking" not in output
    assert "calling https://x.example/***/ failed" in output
    assert "RuntimeError: refused with ***" in output


def test_the_human_format_names_the_dialog_line_channel_and_operator(
    log_lines: Callable[[], list[str]],
) -> None:
    log = logging.getLogger("omniline.test")
    with log_context(dialog_id=12, line_id="support", channel="telegram/shop"):
        with log_context(operator_id="anna"):
            log.info("inside")
        with log_context(fresh=True):
            log.info("a fresh start")
    [inside, fresh] = log_lines()
    assert inside.endswith(
        "INFO omniline.test [dialog 12 line support telegram/shop operator anna]: inside"
    )
    assert fresh.endswith("INFO omniline.test: a fresh start")


def test_config_secrets_are_every_secret_the_config_holds() -> None:
    cfg = Config.model_validate(
        {
            "storage": {"url": f"postgresql://omniline:{PG_PASSWORD}@db.example/omniline"},
            "accounts": [
                {"login": "root", "name": "Root", "role": "admin", "password": ANNA_PASSWORD}
            ],
            "crm": {
                "type": "bitrix24",
                "settings": {"webhook_url": f"https://shop.bitrix24.ru/rest/1/{bitrix_fake.CODE}/"},
            },
            "desks": [
                {
                    "type": "telegram",
                    "settings": {
                        "token": telegram_fake.DESK_TOKEN,
                        "group_id": telegram_fake.GROUP_ID,
                        "operators": {"anna": DESK_USER},
                    },
                }
            ],
            "operators": [{"id": "anna", "name": "Anna"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {
                            "type": "telegram",
                            "account": ACCOUNT,
                            "settings": {
                                "token": telegram_fake.TOKEN,
                                "webhook_secret": telegram_fake.SECRET,
                            },
                        },
                        {
                            "type": "vk",
                            "account": ACCOUNT,
                            "settings": {
                                "token": vk_fake.TOKEN,
                                "group_id": vk_fake.GROUP_ID,
                                "secret": vk_fake.SECRET,
                                "confirmation": vk_fake.CONFIRMATION,
                            },
                        },
                        {
                            "type": "viber",
                            "account": ACCOUNT,
                            "settings": {"auth_token": viber_fake.TOKEN},
                        },
                        {
                            "type": "webchat",
                            "account": ACCOUNT,
                            "settings": {"secret": WEBCHAT_SECRET},
                        },
                    ],
                }
            ],
        }
    )
    found = config_secrets(cfg)
    assert set(CONFIGURED.values()) - {ADMIN_PASSWORD} <= found
    assert "support" not in found and ACCOUNT not in found
