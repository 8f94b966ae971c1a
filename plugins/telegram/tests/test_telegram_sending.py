"""What goes out through the Bot API, and how Telegram's refusals reach the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from omniline_telegram.testing import FakeTelegram, RunningApp, call_webhook, text_update

from omniline import Attachment, AttachmentKind, MessageContext, OutboundMessage, Router
from omniline.model import ChannelRef, Identity

AppFactory = Callable[..., Awaitable[RunningApp]]
ANN = Identity(channel=ChannelRef(type="telegram", account="main"), external_id="4242")


def quiet_bot() -> Router:
    bot = Router()

    @bot.message()
    async def listen(ctx: MessageContext) -> None:
        return None

    return bot


async def operator_holds_the_dialog(run: RunningApp) -> int:
    assert await call_webhook(run.client, text_update(2001, "hello")) == 200
    await run.settle()
    dialog = await run.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None
    await run.app.dialogs.handoff(dialog.id)
    await run.app.dialogs.accept(dialog.id, "anna")
    await run.settle()
    return dialog.id


async def test_flood_control_is_obeyed_with_telegrams_retry_after(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    [delivery] = await run.app.dialogs.reply(dialog_id, "anna", "sorry for the wait")
    await run.settle(0)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "retry"
    assert "retry after 30" in (status.error or "")
    assert status.next_attempt_at is not None
    assert status.next_attempt_at >= run.clock.now() + timedelta(seconds=29)
    assert len(fake.of("sendMessage")) == 1
    await run.advance(20)  # the outbox's own back-off would have retried by now
    assert len(fake.of("sendMessage")) == 1
    await run.advance(11)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "sent"
    assert fake.texts() == [("4242", "sorry for the wait")] * 2


async def test_a_blocked_bot_fails_the_delivery_with_telegrams_reason(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    [delivery] = await run.app.dialogs.reply(dialog_id, "anna", "are you there?")
    await run.settle(0)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "failed"
    assert "bot was blocked by the user" in (status.error or "")
    await run.advance(60)
    assert len(fake.of("sendMessage")) == 1  # never tried again


async def test_chat_not_found_fails_the_delivery(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    [delivery] = await run.app.dialogs.reply(dialog_id, "anna", "hello?")
    await run.settle(0)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "failed"
    assert "chat not found" in (status.error or "")


async def test_a_server_error_is_retried(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    [delivery] = await run.app.dialogs.reply(dialog_id, "anna", "one more time")
    await run.settle(0)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "retry"
    await run.advance(5)
    status = await run.app.store.outbox.status(delivery.outbox_id)
    assert status is not None and status.outcome == "sent"


async def test_an_image_and_a_document_go_out_as_files(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    photo = Attachment(kind=AttachmentKind.IMAGE, url="https://shop.example/map.png")
    document = Attachment(kind=AttachmentKind.DOCUMENT, file_id="doc-1", name="invoice.pdf")
    await run.app.dialogs.reply(dialog_id, "anna", OutboundMessage(attachments=(photo,)))
    await run.app.dialogs.reply(
        dialog_id, "anna", OutboundMessage(text="your invoice", attachments=(document,))
    )
    await run.settle()
    assert [p["photo"] for p in fake.of("sendPhoto")] == ["https://shop.example/map.png"]
    assert [p["document"] for p in fake.of("sendDocument")] == ["doc-1"]
    assert fake.texts()[-1] == ("4242", "your invoice")


async def test_long_text_is_split_within_telegrams_limit(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    before = len(fake.texts())
    words = " ".join(f"word{i}" for i in range(1500))  # 12,389 characters
    await run.app.dialogs.reply(dialog_id, "anna", words)
    await run.settle(5)
    parts = [text for _, text in fake.texts()[before:]]
    assert len(parts) == 4
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == words


async def test_a_link_goes_out_as_text_not_as_a_file(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    """A ``link`` attachment (a shared web page) went to ``sendDocument`` with the page's address,
    which Telegram refuses: the message failed for good."""
    fake, _ = telegram
    run = await start_app(quiet_bot())
    dialog_id = await operator_holds_the_dialog(run)
    page = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/p/7", name="Our prices")
    await run.app.dialogs.reply(
        dialog_id, "anna", OutboundMessage(text="Here you are", attachments=(page,))
    )
    await run.settle()
    assert fake.of("sendDocument") == []
    # Telegram declares no link attachments: the core writes the page into the text
    # (engine.rendering.degrade), where Telegram previews it
    assert fake.texts()[-1:] == [("4242", "Here you are\nOur prices: https://shop.example/p/7")]
