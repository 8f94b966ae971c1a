"""The outbox: stored first, sent at least once, retried with back-off, failed with a reason."""

from __future__ import annotations

from omniline import Capabilities, DeliveryError, MessageContext, Router
from omniline.engine.ports import SendAction
from omniline.model import OutboundMessage
from omniline.testing import Kit
from tests.conftest import echo_bot


async def outbox_row(kit: Kit) -> int:
    return kit.channel.attempts[-1].outbox_id


async def test_a_passing_failure_is_retried_after_back_off() -> None:
    async with Kit(bot=echo_bot()) as kit:
        kit.channel.fail_next(ConnectionError("network down"))
        ann = kit.client("ann")
        await ann.says("hi")
        assert ann.received == []
        row = await kit.app.store.outbox.status(await outbox_row(kit))
        assert row is not None and row.outcome == "retry" and "network down" in (row.error or "")
        await kit.advance(0.4)  # the first retry waits between 0.5 and 1 s
        assert ann.received == []
        await kit.advance(1.0)
        assert ann.received == ["echo: hi"]
        assert len(kit.channel.attempts) == 2


async def test_retry_after_from_the_platform_is_obeyed() -> None:
    async with Kit(bot=echo_bot()) as kit:
        kit.channel.fail_next(DeliveryError("429 Too Many Requests", retry_after=30))
        ann = kit.client("ann")
        await ann.says("hi")
        await kit.advance(29)
        assert ann.received == []
        await kit.advance(2)
        assert ann.received == ["echo: hi"]


async def test_a_permanent_failure_marks_the_message_failed_at_once() -> None:
    async with Kit(bot=echo_bot()) as kit:
        kit.channel.fail_permanently("Forbidden: bot was blocked by the user")
        ann = kit.client("ann")
        await ann.says("hi")
        row = await kit.app.store.outbox.status(await outbox_row(kit))
        assert row is not None and row.outcome == "failed"
        assert row.error == "Forbidden: bot was blocked by the user"
        await kit.advance(3600)
        assert len(kit.channel.attempts) == 1


async def test_giving_up_after_max_attempts_keeps_the_last_reason() -> None:
    async with Kit(bot=echo_bot(), outbox_settings={"max_attempts": 3}) as kit:
        kit.channel.fail_next(*(TimeoutError(f"timeout {i}") for i in range(5)))
        await kit.client("ann").says("hi")
        for _ in range(6):
            await kit.advance(10)
        assert len(kit.channel.attempts) == 3
        row = await kit.app.store.outbox.status(kit.channel.attempts[0].outbox_id)
        assert row is not None and row.outcome == "failed"
        assert row.error == "gave up after 3 attempts: TimeoutError: timeout 2"


async def test_delivery_keys_stay_the_same_across_retries() -> None:
    async with Kit(bot=echo_bot()) as kit:
        kit.channel.fail_next(ConnectionError("reset"))
        await kit.client("ann").says("hi")
        await kit.advance(2)
        first, second = kit.channel.attempts
        assert first.delivery_key == second.delivery_key
        assert (first.attempt, second.attempt) == (1, 2)


async def test_long_text_is_split_for_the_channel() -> None:
    caps = Capabilities(max_text_length=20)
    bot = Router()

    @bot.message()
    async def long(ctx: MessageContext) -> None:
        ctx.reply("one two three four five six seven eight nine ten")

    async with Kit(bot=bot, capabilities=caps) as kit:
        ann = kit.client("ann")
        await ann.says("go")
        assert ann.received == ["one two three four", "five six seven eight", "nine ten"]
        assert len({d.delivery_key for d in kit.channel.sent}) == 3


async def test_unsent_messages_are_sent_after_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with Kit(database_url=url) as kit:
        ann = kit.client("ann")
        receipt = await ann.says("hello")
        # stored and leased, as if the process died before sending
        message = OutboundMessage(text="we are back")
        await kit.app.store.dialogs.apply(
            receipt.dialog_id,
            [SendAction(author="system", message=message, parts=(message,))],
        )
    async with Kit(database_url=url) as kit:
        await kit.advance(kit.app.outbox.lease + 1)
        assert kit.channel.texts_to("ann") == ["we are back"]


async def test_sends_to_one_chat_are_paced_by_the_channel_rate() -> None:
    caps = Capabilities(per_chat_rate=1.0)
    bot = Router()

    @bot.message()
    async def three(ctx: MessageContext) -> None:
        for i in range(3):
            ctx.reply(f"part {i}")

    async with Kit(bot=bot, capabilities=caps) as kit:
        await kit.channel.receive("ann", "go")
        await kit.channel.receive("bob", "go")
        await kit.advance(0)
        # one message per chat at once; the others wait their turn
        assert kit.channel.texts_to("ann") == ["part 0"]
        assert kit.channel.texts_to("bob") == ["part 0"]
        await kit.advance(1)
        assert kit.channel.texts_to("ann") == ["part 0", "part 1"]
        await kit.advance(1)
        assert kit.channel.texts_to("ann") == ["part 0", "part 1", "part 2"]
        assert kit.channel.texts_to("bob") == ["part 0", "part 1", "part 2"]


async def test_a_chat_keeps_its_order_when_a_message_must_be_retried() -> None:
    bot = Router()

    @bot.message()
    async def two(ctx: MessageContext) -> None:
        ctx.reply("first")
        ctx.reply("second")

    async with Kit(bot=bot) as kit:
        kit.channel.fail_next(ConnectionError("network down"))
        ann = kit.client("ann")
        await ann.says("go")
        assert ann.received == []  # "second" waits behind "first"
        await kit.advance(2)
        assert ann.received == ["first", "second"]
        await kit.client("bob").says("go")
        assert kit.channel.texts_to("bob") == ["first", "second"]  # other chats never waited


async def test_stopping_hands_back_deliveries_that_wait_for_their_rate_slot(
    tmp_path: object,
) -> None:
    """Regression: stop() waited for paced deliveries, forever with a virtual clock."""
    import asyncio
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    caps = Capabilities(per_chat_rate=1.0)
    bot = Router()

    @bot.message()
    async def three(ctx: MessageContext) -> None:
        for i in range(3):
            ctx.reply(f"part {i}")

    kit = Kit(bot=bot, capabilities=caps, database_url=url)
    async with kit:
        await kit.channel.receive("ann", "go")
        await kit.advance(0)
        assert kit.channel.texts_to("ann") == ["part 0"]
        await asyncio.wait_for(kit.app.stop(), timeout=10)
    async with Kit(capabilities=caps, database_url=url) as again:
        await again.advance(0)  # due at once on the next start (no lease to wait out)
        assert again.channel.texts_to("ann") == ["part 1"]
        await again.advance(1)  # and paced as before
        assert again.channel.texts_to("ann") == ["part 1", "part 2"]


async def test_a_delivery_for_a_channel_this_process_lacks_is_left_for_one_that_has_it() -> None:
    """Regression: a worker whose config lacked a channel (another worker on the same database had
    it) claimed that channel's deliveries and failed them for good."""
    async with Kit(bot=echo_bot()) as kit:
        channel = kit.app.channels.pop(kit.channel.ref)  # this process, as configured elsewhere
        ann = kit.client("ann")
        await ann.says("hi")
        assert ann.received == []
        kit.app.channels[kit.channel.ref] = channel  # ...and the worker that has it
        await kit.advance(2.0)
        assert ann.received == ["echo: hi"]
