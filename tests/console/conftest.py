"""Fixtures for the desk API: a real application on a free port with two lines, their operators
and an account of every role, clients that write in through fake channels, and HTTP clients that
log in like the console does (session cookie + CSRF token) or call with an API token.

Every person logs in from their own loopback address (127.0.0.x): the login throttle counts failed
tries per address, and the tests that fail logins on purpose must not hold up the others.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from yarl import URL

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.console.endpoints import SESSION_COOKIE
from omniline.engine.ports import ChannelHost, Receipt
from omniline.model import ChannelRef, Dialog, Identity, Presence
from omniline.plugins import Channel, ChannelPlugin, Plugin
from omniline.testing import TemporaryPostgres
from omniline.testing.fake_channel import FakeChannel, FakeChannelSettings

SALES = "sales"
SUPPORT = "support"
PASSWORD = "correct horse battery"
API = "/api/v1"


@dataclass(frozen=True)
class Person:
    login: str
    name: str
    role: str
    operator: str | None = None
    lines: list[str] | None = None


PEOPLE: dict[str, Person] = {
    p.login: p
    for p in (
        Person("anna", "Anna (sales operator)", "operator", operator="anna"),
        Person("boris", "Boris (support operator)", "operator", operator="boris"),
        Person("carl", "Carl (sales operator, disabled by tests)", "operator", operator="carl"),
        Person("dina", "Dina (sales operator, password changed by tests)", "operator", "dina"),
        Person("sue", "Sue (sales supervisor)", "supervisor", lines=[SALES]),
        Person("stan", "Stan (support supervisor)", "supervisor", lines=[SUPPORT]),
        Person("sam", "Sam (supervisor of all lines)", "supervisor"),
        Person("ada", "Ada (admin)", "admin"),
    )
}
QUEUES = {SALES: ["anna", "carl", "dina"], SUPPORT: ["boris"]}


@functools.cache
def password_hash() -> str:
    """One argon2 hash of :data:`PASSWORD` for every account: hashing eight passwords at each
    start would cost seconds on a slow machine."""
    return PasswordHasher().hash(PASSWORD)


def desk_config(storage_url: str) -> Config:
    """Two lines (``sales``, ``support``), one fake channel each, no bot: a client's first message
    goes to the line's queue."""
    return Config.model_validate(
        {
            "storage": {"url": storage_url},
            "server": {"host": "127.0.0.1", "port": 0},
            "outbox": {"poll_interval": 0.2},
            "operators": [
                {"id": p.operator, "name": p.name} for p in PEOPLE.values() if p.operator
            ],
            "accounts": [
                {
                    "login": p.login,
                    "name": p.name,
                    "role": p.role,
                    "operator": p.operator,
                    "lines": p.lines,
                    "password_hash": password_hash(),
                }
                for p in PEOPLE.values()
            ],
            "lines": [
                {
                    "id": line_id,
                    "name": line_id.title(),
                    "queue": queue,
                    "channels": [{"type": "fake", "account": line_id}],
                }
                for line_id, queue in QUEUES.items()
            ],
        }
    )


def fake_channels_plugin(channels: dict[str, FakeChannel]) -> Plugin[FakeChannelSettings, Channel]:
    """One ``fake`` plugin for several accounts: the factory hands out the channel of the ref."""

    def factory(ref: ChannelRef, settings: FakeChannelSettings, host: ChannelHost) -> FakeChannel:
        channel = channels[ref.account]
        channel.bind(host.clock, host)
        return channel

    return ChannelPlugin(name="fake", config_model=FakeChannelSettings, factory=factory)


_addresses = itertools.count(2)


def next_address() -> str:
    """A loopback address of its own for the next person (127.0.0.2, 127.0.0.3, ...)."""
    n = next(_addresses) % 60_000
    return f"127.0.{n // 250}.{n % 250 + 2}"


@dataclass
class Desk:
    """The application under test and what the tests need around it."""

    app: Omniline
    channels: dict[str, FakeChannel]
    backend: str
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def api(self) -> str:
        return self.app.url + API

    def session(
        self, *, address: str | None = None, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientSession:
        """A fresh HTTP client (own cookie jar, own source address), closed with the fixture."""
        connector = aiohttp.TCPConnector(local_addr=(address or next_address(), 0))
        client = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector, headers=headers
        )
        self.clients.append(client)
        return client

    async def login(
        self, login: str, password: str = PASSWORD, *, address: str | None = None
    ) -> Caller:
        """Log in over HTTP like the console does; the caller keeps the cookie and CSRF token."""
        client = self.session(address=address)
        async with client.post(
            f"{self.api}/session", json={"login": login, "password": password}
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        return Caller(self, client, csrf=body["csrf_token"], label=login)

    async def fresh_session(self, login: str) -> Caller:
        """A new console session of the account without going through the login endpoint (and
        its throttle): the cookie and CSRF token as the login would give them."""
        console = self.app.console
        assert console is not None
        secret, session = await console.accounts.open_session(login)
        client = self.session()
        client.cookie_jar.update_cookies({SESSION_COOKIE: secret}, response_url=URL(self.url))
        return Caller(self, client, csrf=session.csrf_token, label=f"session of {login}")

    async def token_for(self, login: str, name: str = "tests") -> tuple[int, str]:
        """A new API token of the account (made through the console's accounts, no HTTP)."""
        console = self.app.console
        assert console is not None
        secret, record = await console.accounts.create_token(login, name)
        return record.id, secret

    async def with_token(self, login: str) -> Caller:
        _, secret = await self.token_for(login)
        client = self.session(headers={"Authorization": f"Bearer {secret}"})
        return Caller(self, client, csrf=None, label=f"token of {login}")

    def anonymous(self) -> Caller:
        return Caller(self, self.session(), csrf=None, label="nobody")

    async def client_writes(
        self, line_id: str, external_id: str, text: str, name: str | None = None
    ) -> Receipt:
        """A client writes in on the line's fake channel; waits until it is handled."""
        receipt = await self.channels[line_id].receive(external_id, text, display_name=name)
        await self.app.idle(paced=False)
        return receipt

    async def dialog_of(self, line_id: str, external_id: str) -> Dialog:
        identity = Identity(channel=self.channels[line_id].ref, external_id=external_id)
        dialog = await self.app.store.dialogs.open_of(identity, line_id)
        assert dialog is not None, f"{external_id} has no open dialog on {line_id}"
        return dialog

    async def online(self, *operators: str) -> None:
        for operator in operators:
            await self.app.operators.set_presence(operator, Presence.ONLINE)
            await self.app.operators.start_day(operator)
        await self.app.idle(paced=False)


@dataclass
class Caller:
    """One HTTP client acting as one account (or nobody)."""

    desk: Desk
    http: aiohttp.ClientSession
    csrf: str | None
    label: str

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
        csrf: bool = True,
    ) -> tuple[int, Any]:
        """The status and the JSON body (None when there is none) of ``method API+path``."""
        headers = {"X-CSRF-Token": self.csrf} if csrf and self.csrf else {}
        async with self.http.request(
            method, self.desk.api + path, json=json, data=data, params=params, headers=headers
        ) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None, *, csrf: bool = True) -> tuple[int, Any]:
        return await self.call("POST", path, json={} if json is None else json, csrf=csrf)


async def start_desk(storage_url: str, backend: str) -> Desk:
    channels = {
        line_id: FakeChannel(ChannelRef(type="fake", account=line_id)) for line_id in QUEUES
    }
    app = Omniline(
        desk_config(storage_url),
        channel_plugins={"fake": fake_channels_plugin(channels)},
        migrate=True,
    )
    await app.start()
    return Desk(app=app, channels=channels, backend=backend)


async def stop_desk(desk: Desk) -> None:
    for client in desk.clients:
        await client.close()
    await desk.app.stop()


_databases = itertools.count()


async def storage_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'desk.db'}"
    server: TemporaryPostgres = request.getfixturevalue("temporary_postgres")
    return await asyncio.to_thread(server.create_database, f"desk_{next(_databases)}")


@pytest_asyncio.fixture
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Desk]:
    """A fresh application on SQLite per test (``backend`` parametrizes it when given)."""
    backend = getattr(request, "param", "sqlite")
    running = await start_desk(await storage_url(request, tmp_path, backend), backend)
    try:
        yield running
    finally:
        await stop_desk(running)
