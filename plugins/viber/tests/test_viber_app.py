"""The Viber channel end to end: Viber's fake calls the real application's webhook, and the replies
go out through the fake Viber API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from omniline_viber import plugin
from omniline_viber.testing import TOKEN, Answer, FakeViber, fake_viber, message_update, viber_calls

from omniline import ButtonPressed, Config, MessageContext, Omniline, Router
from omniline.model import Button, ChannelRef, Dialog, Identity, InboundEvent, OutboundMessage
from omniline.testing import VirtualClock

USER = "01234567890A="
ANN = Identity(channel=ChannelRef(type="viber", account="main"), external_id=USER)


def text(token: int, words: str, **extra: Any) -> dict[str, Any]:
    return message_update(token, {"type": "text", "text": words, **extra})


@dataclass
class Setup:
    app: Omniline
    client: TestClient[Any, Any]
    viber: FakeViber
    clock: VirtualClock
    seen: list[InboundEvent]

    async def dialog(self) -> Dialog:
        dialog = await self.app.store.dialogs.open_of(ANN, "support")
        assert dialog is not None
        return dialog

    async def operator_says(self, content: str | OutboundMessage) -> int:
        """Hand Ann's dialog to Anna (once) and let her reply; returns the outbox id."""
        dialog = await self.dialog()
        if dialog.status.value == "bot":
            await self.app.dialogs.handoff(dialog.id)
        if dialog.operator_id is None:
            await self.app.dialogs.accept(dialog.id, "anna")
        deliveries = await self.app.dialogs.reply(dialog.id, "anna", content)
        await self.app.idle()
        return deliveries[-1].outbox_id

    async def later(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.app.outbox.run_due()
        await self.app.idle()


def support_bot(seen: list[InboundEvent]) -> Router:
    bot = Router()

    @bot.message(ButtonPressed())
    async def pressed(ctx: MessageContext) -> None:
        seen.append(ctx.event)
        ctx.reply(f"pressed: {ctx.event.message.button_payload}")

    @bot.message()
    async def answer(ctx: MessageContext) -> None:
        seen.append(ctx.event)
        if ctx.text == "menu":
            ctx.reply(
                "Choose",
                buttons=[[Button(text="Yes", payload="yes"), Button(text="No", payload="no")]],
            )
        elif ctx.text == "operator":
            ctx.handoff()
        else:
            ctx.reply(f"echo: {ctx.text}")

    return bot


async def open_app(
    tmp_path: Path, viber: FakeViber, **settings: Any
) -> tuple[Omniline, VirtualClock, list[InboundEvent]]:
    clock = VirtualClock()
    seen: list[InboundEvent] = []
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "operators": [{"id": "anna", "name": "Anna Petrova"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {
                            "type": "viber",
                            "account": "main",
                            "settings": {
                                "api_base_url": viber.url,
                                "auth_token": TOKEN,
                                "sender_name": "Shop",
                                **settings,
                            },
                        }
                    ],
                }
            ],
        }
    )
    app = Omniline(
        config,
        clock=clock,
        bots={"support": support_bot(seen)},
        channel_plugins={"viber": plugin},
        migrate=True,
        serve_http=False,
    )
    await app.start()
    return app, clock, seen


@pytest_asyncio.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with fake_viber() as viber:
        app, clock, seen = await open_app(tmp_path, viber)
        try:
            async with TestClient(TestServer(app.web)) as client:
                yield Setup(app, client, viber, clock, seen)
        finally:
            await app.stop()


async def test_a_client_message_is_stored_and_the_bot_answers_through_viber(setup: Setup) -> None:
    assert await viber_calls(setup.client, text(1001, "hello")) == 200
    await setup.app.idle()
    assert setup.viber.texts == ["echo: hello"]
    method, body, token = setup.viber.calls[-1]
    assert (method, token) == ("send_message", TOKEN)
    assert body["receiver"] == USER
    assert body["sender"] == {"name": "Shop"}
    event = setup.seen[0]
    assert event.event_id == "1001"
    assert event.identity.display_name == "Ann Smith"
    assert event.identity.profile["language"] == "de"
    assert isinstance(event.raw, dict) and event.raw["message_token"] == 1001
    assert (await setup.dialog()).identity.display_name == "Ann Smith"


async def test_an_operator_reply_goes_out_through_viber(setup: Setup) -> None:
    await viber_calls(setup.client, text(1001, "operator"))
    await setup.app.idle()
    outbox_id = await setup.operator_says("Anna here, how can I help?")
    assert setup.viber.texts == ["Anna here, how can I help?"]
    status = await setup.app.store.outbox.status(outbox_id)
    assert status is not None and status.outcome == "sent"
    assert status.platform_message_id == "5001"


async def test_a_redelivered_message_is_answered_once(setup: Setup) -> None:
    assert await viber_calls(setup.client, text(1001, "hello")) == 200
    await setup.app.idle()
    assert await viber_calls(setup.client, text(1001, "hello")) == 200
    await setup.app.idle()
    assert setup.viber.texts == ["echo: hello"]
    assert len(setup.seen) == 1


@pytest.mark.parametrize("signature", ["", "0" * 64, "forged"])
async def test_a_forged_webhook_is_refused_and_nothing_stored(setup: Setup, signature: str) -> None:
    assert await viber_calls(setup.client, text(1001, "hello"), signature=signature) == 403
    await setup.app.idle()
    assert await setup.app.store.dialogs.open_of(ANN, "support") is None
    assert setup.seen == [] and setup.viber.sent == []


async def test_a_webhook_signed_with_another_token_is_refused(setup: Setup) -> None:
    import json

    from omniline_viber.testing import sign

    body = json.dumps(text(1001, "hello")).encode()
    forged = sign(body, token="another-bots-token")
    assert await viber_calls(setup.client, text(1001, "hello"), signature=forged) == 403
    assert await setup.app.store.dialogs.open_of(ANN, "support") is None


@pytest.mark.parametrize("event", ["subscribed", "conversation_started", "unsubscribed", "webhook"])
async def test_service_events_are_acknowledged_and_not_stored(setup: Setup, event: str) -> None:
    update = {"event": event, "timestamp": 1, "message_token": 77, "user": {"id": USER}}
    assert await viber_calls(setup.client, update) == 200
    await setup.app.idle()
    assert await setup.app.store.dialogs.open_of(ANN, "support") is None


async def test_a_too_many_requests_answer_is_obeyed(setup: Setup) -> None:
    await viber_calls(setup.client, text(1001, "operator"))
    await setup.app.idle()
    setup.viber.script.append(Answer(status=429, body={}, headers={"Retry-After": "30"}))
    outbox_id = await setup.operator_says("one moment")
    assert setup.viber.texts == []
    status = await setup.app.store.outbox.status(outbox_id)
    assert status is not None and status.outcome == "retry"
    await setup.later(20)
    assert setup.viber.texts == []  # not before Viber's 30 seconds
    await setup.later(15)
    assert setup.viber.texts == ["one moment"]
    status = await setup.app.store.outbox.status(outbox_id)
    assert status is not None and status.outcome == "sent"


async def test_vibers_too_many_requests_status_is_retried_later(setup: Setup) -> None:
    await viber_calls(setup.client, text(1001, "operator"))
    await setup.app.idle()
    setup.viber.script.append(Answer(body={"status": 12, "status_message": "tooManyRequests"}))
    outbox_id = await setup.operator_says("one moment")
    status = await setup.app.store.outbox.status(outbox_id)
    assert status is not None and status.outcome == "retry"
    assert "tooManyRequests" in (status.error or "")
    await setup.later(601)
    assert setup.viber.texts == ["one moment"]


async def test_an_unsubscribed_receiver_fails_the_delivery_with_vibers_reason(
    setup: Setup,
) -> None:
    await viber_calls(setup.client, text(1001, "operator"))
    await setup.app.idle()
    setup.viber.script.append(Answer(body={"status": 6, "status_message": "receiverNotSubscribed"}))
    outbox_id = await setup.operator_says("are you there?")
    status = await setup.app.store.outbox.status(outbox_id)
    assert status is not None and status.outcome == "failed"
    assert "receiverNotSubscribed" in (status.error or "")
    await setup.later(3600)
    assert setup.viber.texts == []  # never retried


async def test_a_pressed_keyboard_button_comes_in_as_its_payload(setup: Setup) -> None:
    await viber_calls(setup.client, text(1001, "menu"))
    await setup.app.idle()
    board = setup.viber.sent[-1]["keyboard"]
    assert board["Type"] == "keyboard"
    assert [(b["Text"], b["ActionBody"], b["ActionType"]) for b in board["Buttons"]] == [
        ("Yes", "yes", "reply"),
        ("No", "no", "reply"),
    ]
    tracking = setup.viber.sent[-1]["tracking_data"]
    await viber_calls(setup.client, text(1002, "no", tracking_data=tracking))
    await setup.app.idle()
    assert setup.seen[-1].message.button_payload == "no"
    assert setup.viber.texts[-1] == "pressed: no"
    # typed text that is no button of the last keyboard stays text
    await viber_calls(setup.client, text(1003, "maybe"))
    await setup.app.idle()
    assert setup.seen[-1].message.button_payload is None
    assert setup.viber.texts[-1] == "echo: maybe"


async def test_a_button_press_is_recognised_by_viber_tracking_data_after_a_restart(
    tmp_path: Path,
) -> None:
    async with fake_viber() as viber:
        app, _, seen = await open_app(tmp_path, viber)
        try:
            async with TestClient(TestServer(app.web)) as client:
                # this process never sent the keyboard; Viber echoes the bot's tracking_data
                tracking = 'omniline:buttons:["yes", "no"]'
                await viber_calls(client, text(1001, "yes", tracking_data=tracking))
                await app.idle()
        finally:
            await app.stop()
    assert seen[-1].message.button_payload == "yes"


async def test_media_contact_and_location_come_in(setup: Setup) -> None:
    messages: list[dict[str, Any]] = [
        {"type": "picture", "text": "my receipt", "media": "https://dl.viber.example/p.jpg"},
        {
            "type": "file",
            "media": "https://dl.viber.example/f.pdf",
            "file_name": "invoice.pdf",
            "size": 2048,
        },
        {"type": "sticker", "sticker_id": 46105, "media": "https://dl.viber.example/s.png"},
        {"type": "contact", "contact": {"name": "Ann", "phone_number": "+491511234567"}},
        {"type": "location", "location": {"lat": 52.52, "lon": 13.405}},
    ]
    for token, message in enumerate(messages, start=2001):
        assert await viber_calls(setup.client, message_update(token, message)) == 200
    await setup.app.idle()
    picture, document, sticker, contact, location = (e.message for e in setup.seen)
    assert picture.text == "my receipt"
    assert picture.attachments[0].kind == "image"
    assert picture.attachments[0].url == "https://dl.viber.example/p.jpg"
    assert (document.attachments[0].kind, document.attachments[0].name) == (
        "document",
        "invoice.pdf",
    )
    assert document.attachments[0].size == 2048
    assert (sticker.attachments[0].kind, sticker.attachments[0].file_id) == ("sticker", "46105")
    assert contact.contact is not None and contact.contact.phone == "+491511234567"
    assert location.location is not None and location.location.latitude == 52.52


async def test_images_and_documents_go_out_as_viber_picture_and_file(setup: Setup) -> None:
    from omniline.model import Attachment, AttachmentKind

    await viber_calls(setup.client, text(1001, "operator"))
    await setup.app.idle()
    await setup.operator_says(
        OutboundMessage(
            text="Here you go",
            attachments=(
                Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/a.png"),
                Attachment(
                    kind=AttachmentKind.DOCUMENT,
                    url="https://cdn.example/terms.pdf",
                    name="terms.pdf",
                    size=1234,
                ),
            ),
        )
    )
    kinds = [(b["type"], b.get("media"), b.get("file_name")) for b in setup.viber.sent]
    assert ("picture", "https://cdn.example/a.png", None) in kinds
    assert ("file", "https://cdn.example/terms.pdf", "terms.pdf") in kinds
    assert setup.viber.texts == ["Here you go"]


async def test_a_reply_from_the_client_restarts_the_hourly_count(tmp_path: Path) -> None:
    async with fake_viber() as viber:
        app, clock, _ = await open_app(tmp_path, viber, max_unanswered_per_hour=2)
        try:
            async with TestClient(TestServer(app.web)) as client:
                s = Setup(app, client, viber, clock, [])
                await viber_calls(client, text(1001, "operator"))
                await app.idle()
                await s.operator_says("one")
                await s.operator_says("two")
                # the client answers: the count starts again
                await viber_calls(client, text(1002, "thanks"))
                await app.idle()
                await s.operator_says("three")
                await s.operator_says("four")
                assert viber.texts == ["one", "two", "three", "four"]
        finally:
            await app.stop()


async def test_the_hourly_limit_of_unanswered_messages_holds_the_rest(tmp_path: Path) -> None:
    async with fake_viber() as viber:
        app, clock, _ = await open_app(tmp_path, viber, max_unanswered_per_hour=2)
        try:
            async with TestClient(TestServer(app.web)) as client:
                s = Setup(app, client, viber, clock, [])
                await viber_calls(client, text(1001, "operator"))
                await app.idle()
                await s.operator_says("one")
                await s.operator_says("two")
                third = await s.operator_says("three")
                assert viber.texts == ["one", "two"]
                status = await app.store.outbox.status(third)
                assert status is not None and status.outcome == "retry"
                assert "without a reply" in (status.error or "")
                await s.later(3000)
                assert viber.texts == ["one", "two"]  # not before the hour is over
                await s.later(700)
                assert viber.texts == ["one", "two", "three"]
        finally:
            await app.stop()


async def test_polling_is_refused_because_viber_has_none(tmp_path: Path) -> None:
    from omniline.errors import OmnilineError

    async with fake_viber() as viber:
        with pytest.raises(OmnilineError, match="mode"):
            await open_app(tmp_path, viber, mode="polling")
