"""The Viber channel on its own: omniline's channel contract, and its webhook's edge cases."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_viber import ViberChannel, ViberSettings
from omniline_viber.outbound import keyboard
from omniline_viber.testing import TOKEN, FakeViber, fake_viber, message_update, viber_calls

from omniline.errors import DeliveryError
from omniline.model import Button, ChannelRef, OutboundMessage
from omniline.plugins import Channel, mount
from omniline.testing.conformance import (
    ChannelConformance,
    RecordingHost,
    RecordingSink,
    delivery_to,
)

REF = ChannelRef(type="viber", account="main")


class TestViberConformance(ChannelConformance):
    client_id = "01234567890A="

    async def open_channel(self, host: RecordingHost) -> Channel:
        self.stack = AsyncExitStack()
        self.viber: FakeViber = await self.stack.enter_async_context(fake_viber())
        settings = ViberSettings(api_base_url=self.viber.url, auth_token=TOKEN)
        channel = ViberChannel(REF, settings, host)
        app = web.Application()
        mount(app, channel)
        self.client: TestClient[Any, Any] = await self.stack.enter_async_context(
            TestClient(TestServer(app, host="127.0.0.1"))
        )
        self.token = 0
        self.last: dict[str, Any] = {}
        return channel

    async def close_platform(self) -> None:
        await self.stack.aclose()

    async def client_writes(self, channel: Channel, external_id: str, text: str) -> bool:
        self.token += 1
        self.last = message_update(self.token, {"type": "text", "text": text}, user=external_id)
        return await viber_calls(self.client, self.last) == 200

    async def redeliver_last(self, channel: Channel) -> bool:
        return await viber_calls(self.client, self.last) == 200

    async def received_texts(self, channel: Channel, external_id: str) -> list[str]:
        return [b["text"] for b in self.viber.sent if b["receiver"] == external_id]

    async def forged_request_status(self, channel: Channel) -> int | None:
        update = message_update(999, {"type": "text", "text": "forged"})
        return await viber_calls(self.client, update, signature="ab" * 32)


async def serve(channel: ViberChannel) -> TestClient[Any, Any]:
    app = web.Application()
    mount(app, channel)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_a_message_before_start_is_answered_503_so_viber_retries() -> None:
    async with fake_viber() as viber:
        channel = ViberChannel(
            REF, ViberSettings(api_base_url=viber.url, auth_token=TOKEN), RecordingHost()
        )
        client = await serve(channel)
        try:
            update = message_update(1, {"type": "text", "text": "early"})
            assert await viber_calls(client, update) == 503
            # Viber's check of a new webhook is answered even before start
            assert await viber_calls(client, {"event": "webhook", "message_token": 2}) == 200
        finally:
            await client.close()


async def test_a_message_the_store_could_not_take_gets_a_500() -> None:
    async with fake_viber() as viber:
        channel = ViberChannel(
            REF, ViberSettings(api_base_url=viber.url, auth_token=TOKEN), RecordingHost()
        )
        sink = RecordingSink()
        sink.failures = 1
        await channel.start(sink)
        client = await serve(channel)
        try:
            update = message_update(1, {"type": "text", "text": "keep me"})
            assert await viber_calls(client, update) == 500
            assert await viber_calls(client, update) == 200
            assert [e.message.text for e in sink.events] == ["keep me"]
        finally:
            await client.close()
            await channel.stop()


async def test_a_signed_body_that_is_not_json_is_a_bad_request() -> None:
    async with fake_viber() as viber:
        channel = ViberChannel(
            REF, ViberSettings(api_base_url=viber.url, auth_token=TOKEN), RecordingHost()
        )
        sink = RecordingSink()
        await channel.start(sink)
        client = await serve(channel)
        try:
            from omniline_viber.testing import sign

            body = b"{not json"
            response = await client.post(
                "/channels/viber/main/webhook",
                data=body,
                headers={"X-Viber-Content-Signature": sign(body)},
            )
            assert response.status == 400
            assert sink.events == []
        finally:
            await client.close()
            await channel.stop()


async def test_a_message_over_vibers_30_kb_is_failed_for_good_without_a_call() -> None:
    async with fake_viber() as viber:
        settings = ViberSettings(api_base_url=viber.url, auth_token=TOKEN)
        channel = ViberChannel(REF, settings, RecordingHost())
        await channel.start(RecordingSink())
        try:
            rows = tuple((Button(text="x" * 200, payload=f"p{i}-" + "y" * 200),) for i in range(90))
            message = OutboundMessage(text="pick one", buttons=rows)
            with pytest.raises(DeliveryError) as caught:
                await channel.send(delivery_to(REF, "u1", message))
            assert caught.value.permanent
            assert viber.calls == []
        finally:
            await channel.stop()


async def test_an_http_error_of_viber_is_a_passing_failure() -> None:
    from omniline_viber.testing import Answer

    async with fake_viber() as viber:
        channel = ViberChannel(
            REF, ViberSettings(api_base_url=viber.url, auth_token=TOKEN), RecordingHost()
        )
        await channel.start(RecordingSink())
        try:
            viber.script.append(Answer(status=502, body={}))
            with pytest.raises(DeliveryError) as caught:
                await channel.send(delivery_to(REF, "u1", OutboundMessage(text="hi")))
            assert not caught.value.permanent and "502" in caught.value.reason
        finally:
            await channel.stop()


def test_a_row_of_more_than_six_buttons_wraps() -> None:
    row = tuple(Button(text=str(i), payload=f"p{i}") for i in range(8))
    buttons = keyboard((row,))["Buttons"]
    assert [b["Columns"] for b in buttons] == [1] * 6 + [3, 3]
    assert [b["ActionBody"] for b in buttons] == [f"p{i}" for i in range(8)]


def test_settings_keep_the_token_secret_and_forbid_typos() -> None:
    settings = ViberSettings(auth_token=TOKEN)
    assert settings.api_base_url == "https://chatapi.viber.com/pa"
    assert TOKEN not in repr(settings)
    with pytest.raises(ValueError):
        ViberSettings.model_validate({"auth_token": TOKEN, "auth_tokn": "typo"})
    with pytest.raises(ValueError):
        ViberSettings.model_validate({"auth_token": TOKEN, "max_text_length": 8000})


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="omniline.channels") if e.name == "viber"]
    assert entry.load().config_model is ViberSettings
