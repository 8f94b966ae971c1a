"""Telegram calling the webhook of a real omniline app; answers go out through the fake Bot API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from omniline_telegram.testing import (
    SECRET,
    FakeTelegram,
    RunningApp,
    call_webhook,
    callback_update,
    message_update,
    text_update,
)

from omniline import Button, ButtonPressed, ContactShare, MessageContext, OutboundMessage, Router
from omniline.model import ChannelRef, Identity, Unsupported

AppFactory = Callable[..., Awaitable[RunningApp]]
ANN = Identity(channel=ChannelRef(type="telegram", account="main"), external_id="4242")


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
