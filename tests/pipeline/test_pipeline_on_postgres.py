"""The pipeline end to end on PostgreSQL: the same rules as on SQLite."""

from __future__ import annotations

import asyncio
import itertools

from omniline import DialogStatus, MessageContext, Router, Text
from omniline.testing import Kit, TemporaryPostgres

_names = itertools.count()


def bot() -> Router:
    router = Router()

    @router.message(Text("hello"))
    async def hello(ctx: MessageContext) -> None:
        ctx.reply("Hello from the bot")

    @router.message()
    async def other(ctx: MessageContext) -> None:
        ctx.handoff("needs a person")

    return router


async def database(server: TemporaryPostgres) -> str:
    return await asyncio.to_thread(server.create_database, f"pipeline_{next(_names)}")


async def test_bot_handoff_operator_reply_and_retry_on_postgres(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await database(temporary_postgres)
    async with Kit(bot=bot(), database_url=url, operators={"anna": "Anna"}) as kit:
        ann = kit.client("ann")
        await ann.says("hello")
        assert ann.received == ["Hello from the bot"]
        await ann.says("my order is late")
        assert (await ann.dialog()).status is DialogStatus.QUEUED
        anna = kit.operator("anna")
        await anna.accepts(ann)
        await anna.whispers(ann, "check the warehouse")
        kit.channel.fail_next(ConnectionError("network down"))
        await anna.replies(ann, "Sorry! Checking now.")
        await kit.advance(2)
        assert ann.received == ["Hello from the bot", "Sorry! Checking now."]
        assert "check the warehouse" not in [m.text for m in await ann.history()]


async def test_messages_of_many_clients_on_postgres(temporary_postgres: TemporaryPostgres) -> None:
    url = await database(temporary_postgres)
    async with Kit(bot=bot(), database_url=url) as kit:
        for i in range(20):
            await kit.channel.receive(f"client-{i % 5}", "hello")
        await kit.settle()
        for i in range(5):
            assert kit.channel.texts_to(f"client-{i}") == ["Hello from the bot"] * 4
