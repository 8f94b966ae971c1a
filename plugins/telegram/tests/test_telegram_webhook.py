"""Telegram calling the webhook of a real omniline app; answers go out through the fake Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_telegram import TelegramChannel, TelegramSettings
from omniline_telegram.desk_texts import message_text
from omniline_telegram.testing import (
    SECRET,
    TOKEN,
    FakeTelegram,
    RunningApp,
    StandaloneHost,
    call_webhook,
    callback_update,
    message_update,
    text_update,
)

from omniline import (
    Button,
    ButtonPressed,
    ContactShare,
    InboundEvent,
    MessageContext,
    OutboundMessage,
    Receipt,
    Router,
)
from omniline.model import ChannelRef, Identity, Location, Unsupported
from omniline.testing import VirtualClock

AppFactory = Callable[..., Awaitable[RunningApp]]
REF = ChannelRef(type="telegram", account="main")
ANN = Identity(channel=REF, external_id="4242")


async def test_a_client_message_is_stored_and_the_bot_replies(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app()
    assert await call_webhook(run.client, text_update(1001, "hi")) == 200
    stored = await run.app.store.dialogs.identity_history(ANN)
    assert [m.text for m in stored][:1] == ["hi"]  # stored when the webhook was answered
    await run.settle()
    assert fake.texts() == [("4242", "echo: hi")]
    dialog = await run.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None and dialog.identity.display_name == "Ann Lee"
    assert dialog.identity.profile["username"] == "ann_lee"
    assert dialog.identity.profile["language"] == "en"


async def test_the_raw_update_and_update_id_are_kept(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    seen: list[Any] = []
    bot = Router()

    @bot.message()
    async def keep(ctx: MessageContext) -> None:
        seen.append((ctx.event.event_id, ctx.event.raw, ctx.event.platform_message_id))

    run = await start_app(bot)
    update = text_update(1002, "raw please")
    assert await call_webhook(run.client, update) == 200
    await run.settle()
    assert seen == [("1002", update, "10020")]


async def test_a_redelivered_update_is_answered_once(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app()
    update = text_update(1003, "once")
    assert await call_webhook(run.client, update) == 200
    await run.settle()
    assert await call_webhook(run.client, update) == 200  # Telegram retried: acknowledged again
    await run.settle()
    assert fake.texts() == [("4242", "echo: once")]
    assert [m.text for m in await run.app.store.dialogs.identity_history(ANN)] == [
        "once",
        "echo: once",
    ]


async def test_a_forged_webhook_call_is_refused_and_nothing_is_stored(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app()
    assert await call_webhook(run.client, text_update(1004, "forged"), secret=None) == 401
    assert await call_webhook(run.client, text_update(1005, "forged"), secret="wrong") == 401
    assert await call_webhook(run.client, text_update(1006, "x"), secret=SECRET + "x") == 401
    await run.settle()
    assert await run.app.store.dialogs.identity_history(ANN) == []
    assert fake.of("sendMessage") == []
    # the same update with the right secret is taken: the refusals above stored nothing
    assert await call_webhook(run.client, text_update(1004, "real")) == 200
    assert [m.text for m in await run.app.store.dialogs.identity_history(ANN)][:1] == ["real"]


async def test_a_body_that_is_no_update_is_refused(start_app: AppFactory) -> None:
    run = await start_app()
    response = await run.client.post(
        "/channels/telegram/main/webhook",
        data=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status == 400
    assert await call_webhook(run.client, {"no": "update_id"}) == 400


async def test_an_operator_reply_goes_out(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    quiet = Router()

    @quiet.message()
    async def listen(ctx: MessageContext) -> None:
        return None  # handled, not answered: the dialog stays with the bot until handed off

    run = await start_app(quiet)
    assert await call_webhook(run.client, text_update(1010, "hello")) == 200
    await run.settle()
    dialog = await run.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None
    await run.app.dialogs.handoff(dialog.id)
    await run.app.dialogs.accept(dialog.id, "anna")
    await run.app.dialogs.reply(dialog.id, "anna", "Hello, this is Anna.")
    await run.settle()
    assert fake.texts()[-1] == ("4242", "Hello, this is Anna.")


async def test_inline_buttons_go_out_and_a_press_comes_back_answered(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    bot = Router()

    @bot.message(ButtonPressed("yes"))
    async def pressed(ctx: MessageContext) -> None:
        ctx.reply("you said yes")

    @bot.message()
    async def ask(ctx: MessageContext) -> None:
        ctx.reply(
            OutboundMessage(
                text="Happy?",
                buttons=((Button(text="Yes", payload="yes"), Button(text="No", payload="no")),),
            )
        )

    run = await start_app(bot)
    assert await call_webhook(run.client, text_update(1020, "hi")) == 200
    await run.settle()
    [question] = fake.of("sendMessage")
    assert question["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]
        ]
    }
    assert await call_webhook(run.client, callback_update(1021, "yes")) == 200
    await run.settle()
    assert fake.texts()[-1] == ("4242", "you said yes")
    assert [c["callback_query_id"] for c in fake.of("answerCallbackQuery")] == ["cb-1021"]


async def test_a_reply_keyboard_can_ask_for_the_phone_number(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    from omniline_telegram import CONTACT_REQUEST

    fake, _ = telegram
    bot = Router()

    @bot.message()
    async def ask(ctx: MessageContext) -> None:
        ctx.reply(
            OutboundMessage(
                text="Share your number?",
                buttons=((Button(text="Share my number", payload=CONTACT_REQUEST),),),
                inline=False,
            )
        )

    run = await start_app(bot)
    assert await call_webhook(run.client, text_update(1030, "call me")) == 200
    await run.settle()
    [question] = fake.of("sendMessage")
    assert question["reply_markup"]["keyboard"] == [
        [{"text": "Share my number", "request_contact": True}]
    ]


async def test_files_a_contact_and_a_location_come_in(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    run = await start_app(Router())
    photo = {
        "photo": [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 600, "file_size": 5},
        ],
        "caption": "my receipt",
    }
    document = {
        "document": {
            "file_id": "doc-1",
            "file_unique_id": "d",
            "file_name": "invoice.pdf",
            "mime_type": "application/pdf",
            "file_size": 1234,
        }
    }
    voice = {"voice": {"file_id": "voice-1", "file_unique_id": "v", "duration": 3}}
    sticker = {
        "sticker": {
            "file_id": "st-1",
            "file_unique_id": "st",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    }
    contact = {"contact": {"phone_number": "+15550001111", "first_name": "Ann", "user_id": 4242}}
    location = {"location": {"latitude": 52.5, "longitude": 13.4}}
    contents: list[dict[str, Any]] = [photo, document, voice, sticker, contact, location]
    for i, content in enumerate(contents):
        assert await call_webhook(run.client, message_update(1040 + i, content)) == 200
    await run.settle()
    stored = await run.app.store.dialogs.identity_history(ANN)
    assert stored[0].text == "my receipt"
    assert [(a.kind.value, a.file_id, a.size) for a in stored[0].attachments] == [
        ("image", "big", 5)
    ]
    [doc] = stored[1].attachments
    assert (doc.kind.value, doc.file_id, doc.name, doc.mime_type) == (
        "document",
        "doc-1",
        "invoice.pdf",
        "application/pdf",
    )
    assert [(a.kind.value, a.file_id) for a in stored[2].attachments] == [("voice", "voice-1")]
    assert [(a.kind.value, a.file_id) for a in stored[3].attachments] == [("sticker", "st-1")]
    assert stored[4].contact == ContactShare(phone="+15550001111", name="Ann")
    assert stored[5].location is not None and stored[5].location.latitude == 52.5
    dialog = await run.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None and dialog.identity.profile["phone"] == "+15550001111"


async def test_somebody_elses_contact_card_is_not_the_clients_phone(
    start_app: AppFactory,
) -> None:
    run = await start_app(Router())
    card = {"contact": {"phone_number": "+15559999999", "first_name": "Bob", "user_id": 777}}
    assert await call_webhook(run.client, message_update(1050, card)) == 200
    await run.settle()
    [stored] = await run.app.store.dialogs.identity_history(ANN)
    # kept (the update is in event.raw) and shown as what it is, but no phone of the client's
    assert (stored.contact, stored.unsupported) == (None, Unsupported(kind="contact"))
    assert stored.client_id is not None
    assert (await run.app.store.clients.contact_values(stored.client_id))["phone"] == []
    dialog = await run.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None and "phone" not in dialog.identity.profile


# --- reading the body (issue "Edges") ------------------------------------------------------------

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


async def test_an_update_sent_in_two_pieces_is_stored(start_app: AppFactory) -> None:
    """The body was read with one ``read(n)``, which returns what has arrived so far: an update
    whose second half came 0.3 s later was refused as no update."""
    run = await start_app(Router())
    body = json.dumps(text_update(1101, "in two pieces")).encode()

    async def two_writes() -> AsyncIterator[bytes]:
        yield body[:40]
        await asyncio.sleep(0.3)
        yield body[40:]

    response = await run.client.post(
        "/channels/telegram/main/webhook", data=two_writes(), headers=HEADERS
    )
    assert response.status == 200
    [stored] = await run.app.store.dialogs.identity_history(ANN)
    assert stored.text == "in two pieces"


async def test_a_valid_200_kb_update_is_accepted(start_app: AppFactory) -> None:
    """A long text with many entities (and fields newer than the models) made 200 KB: it was
    refused with 400, as only its first part had been read."""
    run = await start_app(Router())
    text = "see " + "x" * 4092
    bold = [{"type": "bold", "offset": i, "length": 1} for i in range(4096)]
    transcript = {"language": "en", "text": "y" * 20_000}  # a field from a newer Bot API
    update = message_update(1102, {"text": text, "entities": bold, "transcript": transcript})
    assert len(json.dumps(update)) > 200_000
    assert await call_webhook(run.client, update) == 200
    [stored] = await run.app.store.dialogs.identity_history(ANN)
    assert stored.text == text


@pytest.mark.parametrize("declared", [True, False], ids=["with length", "chunked"])
async def test_a_5_mb_body_is_refused_with_413(start_app: AppFactory, declared: bool) -> None:
    run = await start_app(Router())
    padding = "a" * (5 * 1024 * 1024)
    body = json.dumps({**text_update(1103, "huge"), "padding": padding}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = await run.client.post(
        "/channels/telegram/main/webhook",
        data=body if declared else chunks(),
        headers=HEADERS,
    )
    assert response.status == 413
    assert await run.app.store.dialogs.identity_history(ANN) == []


async def test_a_deeply_nested_body_is_refused_with_400_not_500(start_app: AppFactory) -> None:
    run = await start_app(Router())
    for body in (b"[" * 100_000, b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000):
        response = await run.client.post(
            "/channels/telegram/main/webhook", data=body, headers=HEADERS
        )
        assert response.status == 400
        assert "Traceback" not in await response.text()


async def test_an_update_of_an_older_bot_api_is_stored_not_refused(
    start_app: AppFactory,
) -> None:
    """A photo without ``file_unique_id`` (Bot API before 4.5): aiogram's model refused the whole
    update with 400, and Telegram retried it for a day."""
    run = await start_app(Router())
    photo = {"photo": [{"file_id": "AgAD-old", "width": 800, "height": 600}], "caption": "old"}
    assert await call_webhook(run.client, message_update(1104, photo)) == 200
    [stored] = await run.app.store.dialogs.identity_history(ANN)
    assert (stored.text, [a.file_id for a in stored.attachments]) == ("old", ["AgAD-old"])


async def test_a_location_is_not_stored_as_an_empty_message(start_app: AppFactory) -> None:
    run = await start_app(Router())
    place = {"location": {"latitude": 59.9343, "longitude": 30.3351, "live_period": 60}}
    assert await call_webhook(run.client, message_update(1105, place)) == 200
    [stored] = await run.app.store.dialogs.identity_history(ANN)
    assert stored.location == Location(latitude=59.9343, longitude=30.3351)
    shown = message_text(stored, "Ann")
    assert "(empty message)" not in shown and "59.9343, 30.3351" in shown


async def test_a_shared_phone_without_plus_reaches_the_client_as_international(
    start_app: AppFactory,
) -> None:
    """Telegram sends the account's number without its ``+``: it is passed on as sent and the
    core reads it as international, not in a default region."""
    run = await start_app(
        Router(),
    )
    card = {"contact": {"phone_number": "4915112345678", "first_name": "Ann", "user_id": 4242}}
    assert await call_webhook(run.client, message_update(1106, card)) == 200
    await run.settle()
    [stored] = [m for m in await run.app.store.dialogs.identity_history(ANN) if m.contact]
    assert stored.contact == ContactShare(phone="4915112345678", name="Ann")
    values = await run.app.store.clients.contact_values(stored.client_id)
    assert values["phone"] == ["+4915112345678"]
    assert "📞 Ann: 4915112345678" in message_text(stored, "Ann")


# --- start-up order ----------------------------------------------------------------------------


async def test_an_update_arriving_before_start_finished_gets_503_and_is_taken_when_retried(
    telegram: tuple[FakeTelegram, str],
) -> None:
    """The channel registers its webhook in ``start``; until ``start`` has finished an update is
    answered 503 (Telegram retries it), never acknowledged unstored."""
    fake, base = telegram
    settings = TelegramSettings(
        token=TOKEN,
        api_base_url=base,
        webhook_secret=SECRET,
        webhook_url="https://support.example/channels/telegram/main/webhook",
    )
    channel = TelegramChannel(REF, settings, StandaloneHost(VirtualClock()))
    web_app = web.Application()
    web_app.add_routes(channel.routes())
    stored: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> Receipt:
        stored.append(event)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    async with TestClient(TestServer(web_app)) as client:

        async def telegram_calls() -> int:
            response = await client.post(
                "/webhook", json=text_update(1201, "early"), headers=HEADERS
            )
            return response.status

        assert await telegram_calls() == 503  # not started at all
        release = fake.hold("setWebhook")
        starting = asyncio.create_task(channel.start(sink))
        await asyncio.wait_for(fake.arrived["setWebhook"].wait(), 5)
        assert await telegram_calls() == 503  # registering the webhook
        release.set()
        await asyncio.wait_for(starting, 5)
        assert await telegram_calls() == 200  # Telegram's retry
        await channel.stop()
        assert await telegram_calls() == 503  # stopped: Telegram keeps it for the next start
    assert [e.message.text for e in stored] == ["early"]
