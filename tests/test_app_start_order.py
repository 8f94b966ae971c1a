"""The order in which ``Omniline.start`` brings its parts up: the HTTP server listens before the
channels start, because a platform may call a webhook back while its channel registers it."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel

from omniline import Config, Omniline
from omniline.model import ChannelRef
from omniline.plugins import Capabilities, ChannelHost, ChannelPlugin, Delivery, InboundSink


class ProbeSettings(BaseModel):
    fail: bool = False


class ProbeChannel:
    """Calls its own webhook from ``start``, as a platform checking a new webhook does."""

    seen: list[int | None] = []

    def __init__(self, ref: ChannelRef, settings: ProbeSettings, host: ChannelHost) -> None:
        self._ref, self._settings = ref, settings
        self.url = ""

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        async def check(request: web.Request) -> web.Response:
            return web.Response(text="here")

        return [web.get("/check", check)]

    async def start(self, sink: InboundSink) -> None:
        try:
            async with aiohttp.ClientSession() as session, session.get(self.url) as response:
                ProbeChannel.seen.append(response.status)
        except aiohttp.ClientError:
            ProbeChannel.seen.append(None)
        if self._settings.fail:
            raise RuntimeError("the probe refuses to start")

    async def stop(self) -> None:
        pass

    async def send(self, delivery: Delivery) -> str:
        return "1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def probe_app(tmp_path: Path, port: int, *, fail: bool = False) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "server": {"host": "127.0.0.1", "port": port},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [{"type": "probe", "account": "a", "settings": {"fail": fail}}],
                }
            ],
        }
    )

    def make(ref: ChannelRef, settings: ProbeSettings, host: ChannelHost) -> ProbeChannel:
        channel = ProbeChannel(ref, settings, host)
        channel.url = f"http://127.0.0.1:{port}/channels/probe/a/check"
        return channel

    plugin = ChannelPlugin(name="probe", config_model=ProbeSettings, factory=make)
    return Omniline(config, channel_plugins={"probe": plugin}, migrate=True)


async def test_a_webhook_called_back_while_its_channel_starts_is_answered(tmp_path: Path) -> None:
    ProbeChannel.seen.clear()
    app = probe_app(tmp_path, free_port())
    await app.start()
    try:
        assert ProbeChannel.seen == [200]
    finally:
        await app.stop()


async def test_a_start_that_fails_after_listening_frees_the_port(tmp_path: Path) -> None:
    ProbeChannel.seen.clear()
    port = free_port()
    with pytest.raises(RuntimeError, match="refuses to start"):
        await probe_app(tmp_path, port, fail=True).start()
    assert ProbeChannel.seen == [200]
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # nothing listens there any more
