"""Two worker processes on one PostgreSQL: a visitor whose live socket is on one process sees at
once what is stored for them on the other (their own message from another window, the bot's
answer), relayed over LISTEN/NOTIFY and read back from the database."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from omniline.app import Omniline
from omniline.channels.webchat.channel import WebchatChannel
from omniline.config.models import Config
from omniline.model import ChannelRef
from omniline.testing import TemporaryPostgres
from tests.conftest import echo_bot

SITE = "/channels/webchat/site"


def application(url: str) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 4},
            "server": {"port": 0},
            "console": {"enabled": False},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {
                            "type": "webchat",
                            "account": "site",
                            "settings": {"secret": "the-same-secret-on-both-1"},
                        }
                    ],
                }
            ],
        }
    )
    return Omniline(config, bots={"support": echo_bot()}, migrate=True, recovery_grace=3600)


async def test_a_visitor_connected_to_one_process_sees_what_the_other_stores(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "webchat_two_processes")
    holder, writer = application(url), application(url)
    await holder.start()
    await writer.start()
    try:
        for app in (holder, writer):
            assert app._wakeup is not None
            await asyncio.wait_for(app._wakeup.ready.wait(), 10)
        async with aiohttp.ClientSession() as http:
            async with http.post(holder.url + SITE + "/api/visitors", json={}) as answer:
                token = (await answer.json())["token"]
            ws = await http.ws_connect(f"{holder.url}{SITE}/api/ws?token={token}")
            await asyncio.sleep(0.2)  # registered, history caught up (there is none)

            body = {"client_message_id": "other-window-1", "text": "hi from the other window"}
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(writer.url + SITE + "/api/messages", json=body, headers=headers):
                pass
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while len(seen) < 2:
                    frame = await ws.receive_json()
                    if frame["type"] == "message":
                        seen.append(frame["message"])
            assert [(m["direction"], m["text"]) for m in seen] == [
                ("in", "hi from the other window"),
                ("out", "echo: hi from the other window"),
            ]
            await ws.close()

            # A note naming another visitor's message pushes nothing: it is read back through
            # the named visitor's own history.
            async with http.post(holder.url + SITE + "/api/visitors", json={}) as answer:
                other = await answer.json()
            other_ws = await http.ws_connect(f"{holder.url}{SITE}/api/ws?token={other['token']}")
            await asyncio.sleep(0.2)
            channel = holder.channels[ChannelRef(type="webchat", account="site")]
            assert isinstance(channel, WebchatChannel)
            channel.relayed(f"{other['visitor_id']} {seen[1]['id']}")
            try:
                frame = await other_ws.receive_json(timeout=1.0)
            except TimeoutError:
                frame = None
            assert frame is None
            await other_ws.close()
    finally:
        await writer.stop()
        await holder.stop()
