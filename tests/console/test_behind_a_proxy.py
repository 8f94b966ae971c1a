"""Behind a reverse proxy: the ``X-Forwarded-*`` headers of the proxies named in
``server.trusted_proxies`` say who the client is; anybody else's are ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from pydantic import ValidationError

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.forwarded import client_address, networks
from omniline.model import ChannelRef
from omniline.testing.fake_channel import FakeChannel
from tests.console.conftest import API, PASSWORD, QUEUES, desk_config, fake_channels_plugin


async def _started(tmp_path: Path, trusted: list[str]) -> Omniline:
    config = desk_config(f"sqlite:///{tmp_path / 'desk.db'}")
    config = config.model_copy(
        update={"server": config.server.model_copy(update={"trusted_proxies": trusted})}
    )
    channels = {line: FakeChannel(ChannelRef(type="fake", account=line)) for line in QUEUES}
    app = Omniline(config, channel_plugins={"fake": fake_channels_plugin(channels)}, migrate=True)
    await app.start()
    return app


@pytest_asyncio.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[Omniline]:
    app = await _started(tmp_path, ["127.0.0.1", "::1"])
    try:
        yield app
    finally:
        await app.stop()


@pytest_asyncio.fixture
async def direct(tmp_path: Path) -> AsyncIterator[Omniline]:
    app = await _started(tmp_path, [])
    try:
        yield app
    finally:
        await app.stop()


async def _failed_logins(app: Omniline, client_ip: str, times: int) -> list[int]:
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(times):
            async with http.post(
                app.url + API + "/session",
                json={"login": "nobody-" + client_ip, "password": "wrong"},
                headers={"X-Forwarded-For": f"{client_ip}, 127.0.0.1"},
            ) as answer:
                statuses.append(answer.status)
    return statuses


async def test_behind_a_trusted_proxy_one_clients_failed_logins_do_not_lock_out_the_others(
    behind_proxy: Omniline,
) -> None:
    assert (await _failed_logins(behind_proxy, "203.0.113.7", 6))[-1] == 429
    assert await _failed_logins(behind_proxy, "198.51.100.9", 1) == [401]


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(direct: Omniline) -> None:
    """Without ``trusted_proxies`` a client cannot escape the throttle by inventing addresses."""
    assert (await _failed_logins(direct, "203.0.113.7", 6))[-1] == 429
    assert await _failed_logins(direct, "198.51.100.9", 1) == [429]


async def _session_cookie(app: Omniline) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            app.url + API + "/session",
            json={"login": "anna", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return answer.headers["Set-Cookie"]


async def test_the_session_cookie_is_secure_when_the_trusted_proxy_says_https(
    behind_proxy: Omniline,
) -> None:
    assert "Secure" in await _session_cookie(behind_proxy)


async def test_the_session_cookie_is_not_marked_secure_on_an_untrusted_https_claim(
    direct: Omniline,
) -> None:
    assert "Secure" not in await _session_cookie(direct)


@pytest.mark.parametrize(
    ("chain", "peer", "client"),
    [
        (["203.0.113.7"], "127.0.0.1", "203.0.113.7"),
        (["198.51.100.1", "203.0.113.7", "10.0.0.5"], "127.0.0.1", "203.0.113.7"),
        (["10.0.0.4", "10.0.0.5"], "127.0.0.1", "10.0.0.4"),
        (["not-an-address"], "127.0.0.1", "127.0.0.1"),
        (["203.0.113.7"], "192.0.2.1", "192.0.2.1"),
    ],
)
def test_the_client_is_the_first_hop_from_the_right_that_is_no_trusted_proxy(
    chain: list[str], peer: str, client: str
) -> None:
    assert client_address(chain, peer, networks(["127.0.0.1", "10.0.0.0/8"])) == client


def test_a_trusted_proxy_that_is_no_address_is_a_config_error_at_its_key() -> None:
    with pytest.raises(ValidationError, match="'nginx' is not an IP address or network"):
        Config.model_validate({"server": {"trusted_proxies": ["127.0.0.1", "nginx"]}})
