"""Filters and router composition, through a line with the testing kit."""

from __future__ import annotations

import pytest

from omniline import (
    Attachment,
    AttachmentKind,
    Command,
    MessageContext,
    Router,
    Text,
)
from omniline.pipeline import HasAttachment, HasContact
from omniline.testing import Kit


def recording_bot(seen: list[str]) -> Router:
    bot = Router()

    @bot.message(Command("start", "help"))
    async def command(ctx: MessageContext) -> None:
        seen.append("command")

    @bot.message(HasAttachment())
    async def attachment(ctx: MessageContext) -> None:
        seen.append("attachment")

    @bot.message(HasContact())
    async def contact(ctx: MessageContext) -> None:
        seen.append("contact")

    @bot.message(~Text("hi") & ~Text("bye", ignore_case=False))
    async def not_greetings(ctx: MessageContext) -> None:
        seen.append(f"other:{ctx.text}")

    fallback = Router("fallback")

    @fallback.message()
    async def anything(ctx: MessageContext) -> None:
        seen.append(f"fallback:{ctx.text}")

    bot.include(fallback)
    return bot


async def test_commands_attachments_contacts_negation_and_included_routers() -> None:
    seen: list[str] = []
    async with Kit(bot=recording_bot(seen)) as kit:
        ann = kit.client("ann")
        await ann.says("/start@shop_bot now")
        await ann.says("/HELP")
        await ann.says("/unknown")
        photo = Attachment(kind=AttachmentKind.IMAGE, file_id="AgAD")
        await kit.channel.receive("ann", attachments=[photo])
        await ann.shares_contact("+15550100")
        await ann.says("HI")
        await ann.says("BYE")
        await ann.says("bye")
        await kit.settle()
    assert seen == [
        "command",
        "command",
        "other:/unknown",
        "attachment",
        "contact",
        "fallback:HI",
        "other:BYE",
        "fallback:bye",
    ]


def test_a_router_cannot_include_itself() -> None:
    bot = Router()
    with pytest.raises(ValueError, match="itself"):
        bot.include(bot)


def test_filters_need_something_to_match() -> None:
    with pytest.raises(ValueError):
        Text()
    with pytest.raises(ValueError):
        Command()
