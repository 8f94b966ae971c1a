"""The fuzz tests' application: one line with Telegram, VK, Viber and the web chat, as a user would
configure it, each messenger's webhook called as the platform calls it (the plugins' own fakes on
127.0.0.1 answer the API calls); and what every example checks afterwards.

One application serves all the examples of a test: each example writes as a client of its own
(a fresh Telegram user, VK peer, Viber user or web-chat visitor), so what an example stored never
makes another's invariants wrong.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from omniline_telegram import testing as telegram_fake
from omniline_viber import testing as viber_fake
from omniline_vk import testing as vk_fake

from omniline import Config, Omniline
from omniline.engine.ports import FeedCursor
from omniline.model import Direction, StoredMessage
from omniline.testing import TemporaryPostgres
from tests.console.conftest import SALES, Desk, start_desk, stop_desk
from tests.fuzz.mutations import Wire

ACCOUNT = "shop"
VK_SECRET = "vk-callback-secret"
VK_CONFIRMATION = "c0nf1rm"
WEBCHAT_SECRET = "w" * 32
ORIGIN = "https://shop.example"


class Tracebacks(logging.Handler):
    """Every log record at ERROR or above that carries an exception: a traceback in the log."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None and record.exc_info[0] is not None:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [
            f"{r.name}: {r.getMessage()}: {r.exc_info[1]!r}" for r in self.records if r.exc_info
        ]
        self.records.clear()
        return found


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass
class Platforms:
    telegram: telegram_fake.FakeTelegram
    telegram_url: str
    vk: vk_fake.FakeVk
    viber: viber_fake.FakeViber


@pytest_asyncio.fixture
async def platforms() -> AsyncIterator[Platforms]:
    telegram = telegram_fake.FakeTelegram()
    telegram_server = await telegram_fake.serve(telegram)
    vk = vk_fake.FakeVk()
    try:
        async with (
            TestServer(vk.application(), host="127.0.0.1") as vk_server,
            viber_fake.fake_viber() as viber,
        ):
            vk.server = vk_server
            telegram_url = str(telegram_server.make_url("/")).rstrip("/")
            yield Platforms(telegram, telegram_url, vk, viber)
    finally:
        await telegram_server.close()


def line_config(platforms: Platforms, storage_url: str) -> Config:
    """One line without a bot or operators on duty: a message is stored and queued, nothing more."""
    return Config.model_validate(
        {
            "storage": {"url": storage_url},
            "server": {"host": "127.0.0.1", "port": 0},
            "operators": [{"id": "anna", "name": "Anna"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["anna"],
                    "rating": {"enabled": True},
                    "channels": [
                        {
                            "type": "telegram",
                            "account": ACCOUNT,
                            "settings": {
                                "token": telegram_fake.TOKEN,
                                "api_base_url": platforms.telegram_url,
                                "webhook_secret": telegram_fake.SECRET,
                            },
                        },
                        {
                            "type": "vk",
                            "account": ACCOUNT,
                            "settings": {
                                "token": vk_fake.TOKEN,
                                "api_base_url": platforms.vk.api_url,
                                "group_id": vk_fake.GROUP_ID,
                                "secret": VK_SECRET,
                                "confirmation": VK_CONFIRMATION,
                            },
                        },
                        {
                            "type": "viber",
                            "account": ACCOUNT,
                            "settings": {
                                "auth_token": viber_fake.TOKEN,
                                "api_base_url": platforms.viber.url,
                            },
                        },
                        {
                            "type": "webchat",
                            "account": ACCOUNT,
                            "settings": {
                                "secret": WEBCHAT_SECRET,
                                "allowed_origins": [ORIGIN],
                                # every example is a visitor of its own; no example waits its turn
                                "messages_per_minute": 100_000,
                                "message_burst": 1_000,
                            },
                        },
                    ],
                }
            ],
        }
    )


@dataclass
class Line:
    """The running application, an HTTP client on its address, and fresh ids for each example."""

    app: Omniline
    http: aiohttp.ClientSession
    platforms: Platforms
    tracebacks: Tracebacks
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    async def post(
        self, path: str, wire: Wire, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        sent = dict(headers or {})
        if wire.content_type is not None:
            sent["Content-Type"] = wire.content_type
        async with self.http.post(path, data=wire.body, headers=sent) as response:
            return response.status, await response.text(errors="replace")

    async def cursor(self) -> FeedCursor:
        """Where the feed stands before an example (whose log starts afresh here)."""
        await self.app.idle(paced=False)
        self.tracebacks.take()  # a failed example before this one may have left its own
        return await self.app.store.feed.end()

    async def stored_since(self, cursor: FeedCursor) -> list[StoredMessage]:
        """The clients' messages stored after ``cursor`` (once everything stored is handled)."""
        await self.app.idle(paced=False)
        page = await self.app.store.feed.read(cursor, limit=1000)
        return [m for m in page.messages if m.direction is Direction.IN]

    def no_traceback(self, sent: object = None) -> None:
        """No traceback was logged (since the last look); ``sent`` is shown if one was."""
        found = self.tracebacks.take()
        assert not found, f"tracebacks in the log after {sent!r}:\n" + "\n".join(found)

    async def delivered_twice_stored_once(
        self, path: str, wire: Wire, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Post ``wire`` twice, as a platform redelivers: never a 5xx, never a traceback, and the
        second delivery stores nothing (the first at most one message). The first answer."""
        before = await self.cursor()
        first = await self.post(path, wire, headers)
        assert first[0] < 500, f"{first} for {wire!r}"
        once = await self.stored_since(before)
        assert len(once) <= 1, f"{[m.text for m in once]} for {wire!r}"
        again = await self.post(path, wire, headers)
        assert again[0] < 500, f"{again} for {wire!r}"
        assert len(await self.stored_since(before)) == len(once), f"stored twice: {wire!r}"
        self.no_traceback(wire)
        return first


@pytest_asyncio.fixture
async def line(platforms: Platforms, tmp_path: Path, tracebacks: Tracebacks) -> AsyncIterator[Line]:
    """The line on SQLite."""
    async for running in _running(platforms, f"sqlite:///{tmp_path / 'db.sqlite'}", tracebacks):
        yield running


_databases = itertools.count()


@pytest_asyncio.fixture
async def postgres_line(
    platforms: Platforms, temporary_postgres: TemporaryPostgres, tracebacks: Tracebacks
) -> AsyncIterator[Line]:
    """The line on PostgreSQL, which keeps text more strictly than SQLite (no NUL)."""
    url = await asyncio.to_thread(temporary_postgres.create_database, f"fuzz_{next(_databases)}")
    async for running in _running(platforms, url, tracebacks):
        yield running


async def _running(
    platforms: Platforms, storage_url: str, tracebacks: Tracebacks
) -> AsyncIterator[Line]:
    application = Omniline(line_config(platforms, storage_url), migrate=True, serve_http=True)
    await application.start()
    try:
        async with aiohttp.ClientSession(base_url=application.url) as http:
            tracebacks.take()  # whatever starting logged is another test's business
            yield Line(application, http, platforms, tracebacks)
    finally:
        await application.stop()


# --- the console ----------------------------------------------------------------------------------


@dataclass
class Console:
    desk: Desk
    admin: aiohttp.ClientSession
    """Calls with an admin's API token: no CSRF token needed, every endpoint allowed."""
    operator: aiohttp.ClientSession
    ids: dict[str, int]
    tracebacks: Tracebacks

    async def send(
        self, method: str, path: str, wire: Wire | None, *, as_operator: bool = False
    ) -> tuple[int, str]:
        self.tracebacks.take()  # a failed example before this one may have left its own
        http = self.operator if as_operator else self.admin
        headers = {"Content-Type": wire.content_type} if wire and wire.content_type else {}
        async with http.request(
            method, self.desk.api + path, data=wire.body if wire else None, headers=headers
        ) as response:
            return response.status, await response.text(errors="replace")

    async def line_still_takes_messages(self, example: object) -> None:
        """A client writes on the sales line; handled without a traceback whatever changed."""
        self.ids["client"] += 1
        await self.desk.client_writes(SALES, f"fuzz-{self.ids['client']}", "hello")
        found = self.tracebacks.take()
        assert not found, f"tracebacks in the log after {example!r}:\n" + "\n".join(found)


@pytest_asyncio.fixture
async def console(tmp_path: Path, tracebacks: Tracebacks) -> AsyncIterator[Console]:
    desk = await start_desk(f"sqlite:///{tmp_path / 'desk.db'}", "sqlite")
    try:
        await desk.online("anna", "boris")
        await desk.client_writes(SALES, "cleo", "Hello, my order is late", name="Cleo")
        dialog = await desk.dialog_of(SALES, "cleo")
        await desk.app.dialogs.accept(dialog.id, "anna")
        await desk.app.idle(paced=False)
        _, admin_token = await desk.token_for("ada", "fuzz")
        _, operator_token = await desk.token_for("anna", "fuzz")
        admin = desk.session(headers={"Authorization": f"Bearer {admin_token}"})
        operator = desk.session(headers={"Authorization": f"Bearer {operator_token}"})
        tracebacks.take()
        yield Console(
            desk,
            admin,
            operator,
            {"dialog": dialog.id, "client_id": dialog.client_id, "client": 0},
            tracebacks,
        )
    finally:
        await stop_desk(desk)


def as_json(value: Any) -> Wire:
    return Wire(json.dumps(value).encode())
