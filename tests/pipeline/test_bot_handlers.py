"""Bot handlers on a line, end to end through the pipeline with the testing kit."""

from __future__ import annotations

import asyncio

import pytest

from omniline import (
    Button,
    ButtonPressed,
    Capabilities,
    Command,
    DialogStatus,
    MessageContext,
    OutboundMessage,
    Regex,
    Router,
    Text,
)
from omniline.model import InboundEvent
from omniline.pipeline import Next
from omniline.testing import Kit


def make_bot() -> Router:
    bot = Router()

    @bot.message(Command("start"))
    async def start(ctx: MessageContext) -> None:
        ctx.reply("Welcome!", buttons=[[Button(text="Prices", payload="prices")]])

    @bot.message(ButtonPressed("prices"))
    async def prices(ctx: MessageContext) -> None:
        ctx.reply("Espresso 2 EUR")

    @bot.message(Text("hello", "hi"))
    async def hello(ctx: MessageContext) -> None:
        ctx.reply("Hello there")

    @bot.message(Regex(r"order #(\d+)"))
    async def order(ctx: MessageContext) -> None:
        assert ctx.match is not None
        ctx.reply(f"Order {ctx.match.group(1)} is on its way")

    @bot.message(Text("bye"))
    async def bye(ctx: MessageContext) -> None:
        ctx.reply("Goodbye")
        ctx.close("client said bye")

    @bot.message(Text("help me"))
    async def human(ctx: MessageContext) -> None:
        ctx.reply("Passing you to a colleague")
        ctx.handoff("bot cannot help")

    return bot


async def test_handlers_are_chosen_by_filters() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        await ann.says("/start")
        await ann.presses("prices")
        await ann.says("HELLO")
        await ann.says("where is order #42?")
        assert ann.received == [
            "Welcome!",
            "Espresso 2 EUR",
            "Hello there",
            "Order 42 is on its way",
        ]
        assert (await ann.dialog()).status is DialogStatus.BOT


async def test_reply_keeps_buttons_for_channels_that_show_them() -> None:
    async with Kit(bot=make_bot()) as kit:
        await kit.client("ann").says("/start")
        sent = kit.channel.sent[-1].message
        assert sent.buttons == ((Button(text="Prices", payload="prices"),),)


async def test_numbered_reply_presses_the_button_where_the_channel_has_none() -> None:
    caps = Capabilities(buttons=False, inline_buttons=False)
    async with Kit(bot=make_bot(), capabilities=caps) as kit:
        ann = kit.client("ann")
        await ann.says("/start")
        assert ann.last == "Welcome!\n\n1. Prices"
        await ann.says("1")
        assert ann.last == "Espresso 2 EUR"


async def test_handler_asks_for_handoff_and_the_bot_stays_silent_after() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        await ann.says("help me")
        assert ann.last == "Passing you to a colleague"
        dialog = await ann.dialog()
        assert dialog.status is DialogStatus.QUEUED
        await ann.says("hello")
        assert ann.received == ["Passing you to a colleague"]
        kinds = [e.kind for e in await kit.app.store.dialogs.events(dialog.id)]
        assert kinds == ["opened", "handed_off", "queued"]


async def test_client_asks_for_a_person_with_a_phrase() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        await ann.says("Operator")
        assert (await ann.dialog()).status is DialogStatus.QUEUED
        assert ann.received == []


async def test_client_asks_for_a_person_with_the_handoff_button() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        await ann.presses("omniline:operator")
        assert (await ann.dialog()).status is DialogStatus.QUEUED


async def test_bot_never_answers_a_dialog_an_operator_holds() -> None:
    async with Kit(bot=make_bot(), operators={"anna": "Anna"}) as kit:
        ann = kit.client("ann")
        await ann.says("Operator")
        await kit.operator("anna").accepts(ann)
        await ann.says("/start")
        await ann.says("hello")
        assert ann.received == []
        await kit.operator("anna").replies(ann, "Anna here, how can I help?")
        assert ann.received == ["Anna here, how can I help?"]


async def test_bot_closes_the_dialog_and_the_next_message_opens_a_new_one() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        first = await ann.says("bye")
        assert ann.last == "Goodbye"
        closed = await kit.app.store.dialogs.get(first.dialog_id)
        assert closed is not None and closed.status is DialogStatus.CLOSED
        second = await ann.says("hello")
        assert second.dialog_id != first.dialog_id
        history = await kit.app.store.dialogs.client_history(closed.client_id)
        assert [m.text for m in history] == ["bye", "Goodbye", "hello", "Hello there"]


async def test_unhandled_message_goes_to_operators_by_default() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        await ann.says("something the bot does not know")
        assert (await ann.dialog()).status is DialogStatus.QUEUED


async def test_unhandled_message_stays_with_the_bot_when_the_line_says_so() -> None:
    async with Kit(bot=make_bot(), line_settings={"handoff_when_unhandled": False}) as kit:
        ann = kit.client("ann")
        await ann.says("something the bot does not know")
        assert (await ann.dialog()).status is DialogStatus.BOT


async def test_a_line_without_a_bot_queues_every_new_dialog() -> None:
    async with Kit() as kit:
        ann = kit.client("ann")
        await ann.says("hello")
        assert (await ann.dialog()).status is DialogStatus.QUEUED
        assert ann.received == []


async def test_failing_handler_sends_nothing_half_done_and_hands_off() -> None:
    bot = Router()

    @bot.message()
    async def broken(ctx: MessageContext) -> None:
        ctx.reply("this must not be sent")
        raise RuntimeError("bug in the bot")

    async with Kit(bot=bot) as kit:
        ann = kit.client("ann")
        receipt = await ann.says("hello")
        assert ann.received == []
        assert (await ann.dialog()).status is DialogStatus.QUEUED
        # the event is finished (failed, with the reason), so a restart does not replay it
        assert await kit.app.store.inbox.pending(before=kit.clock.now()) == []
        assert receipt.duplicate is False


async def test_messages_of_one_dialog_are_handled_in_order_one_at_a_time() -> None:
    bot = Router()
    seen: list[str] = []
    running = 0

    @bot.message()
    async def slow(ctx: MessageContext) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two messages of one dialog ran at once"
        await asyncio.sleep(0.001)
        seen.append(ctx.text)
        running -= 1
        ctx.reply(f"got {ctx.text}")

    async with Kit(bot=bot) as kit:
        texts = [f"m{i}" for i in range(30)]
        for text in texts:  # arrive back to back, before any is processed
            await kit.channel.receive("ann", text)
        await kit.settle()
        assert seen == texts
        assert kit.channel.texts_to("ann") == [f"got {t}" for t in texts]


async def test_different_dialogs_are_handled_concurrently() -> None:
    bot = Router()
    both_inside = asyncio.Event()
    inside = 0

    @bot.message()
    async def wait_for_the_other(ctx: MessageContext) -> None:
        nonlocal inside
        inside += 1
        if inside == 2:
            both_inside.set()
        await asyncio.wait_for(both_inside.wait(), timeout=5)
        ctx.reply("done")

    async with Kit(bot=bot) as kit:
        await kit.channel.receive("ann", "hi")
        await kit.channel.receive("bob", "hi")
        await kit.settle()
        assert kit.channel.texts_to("ann") == ["done"]
        assert kit.channel.texts_to("bob") == ["done"]


async def test_a_redelivered_event_is_handled_once() -> None:
    async with Kit(bot=make_bot()) as kit:
        ann = kit.client("ann")
        first = await ann.says("hello", event_id="upd-1")
        again = await ann.says("hello", event_id="upd-1")
        assert again.duplicate and again.message_id == first.message_id
        assert ann.received == ["Hello there"]


async def test_user_middlewares_run_where_they_are_placed() -> None:
    calls: list[str] = []

    async def before_bot(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
        calls.append("before bot")
        ctx.state["greeting"] = "Hi from middleware"
        await call_next(event, ctx)

    async def first_of_all(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
        calls.append("first")
        await call_next(event, ctx)

    bot = Router()

    @bot.message()
    async def handler(ctx: MessageContext) -> None:
        calls.append("handler")
        ctx.reply(str(ctx.state["greeting"]))

    async with Kit(bot=bot) as kit:
        chain = kit.app.middlewares
        chain.add(before_bot, before="bot")
        chain.add(first_of_all, before="errors")
        assert chain.order == [
            "first_of_all",
            "errors",
            "dialog",
            "contacts",
            "crm",
            "rating",
            "welcome",
            "operator_gate",
            "human_request",
            "before_bot",
            "bot",
            "handoff",
        ]
        ann = kit.client("ann")
        await ann.says("x")
        assert calls == ["first", "before bot", "handler"]
        assert ann.last == "Hi from middleware"


async def test_a_middleware_that_does_not_call_next_stops_the_run() -> None:
    async def silence(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
        return None

    async with Kit(bot=make_bot()) as kit:
        kit.app.middlewares.add(silence, after="dialog")
        ann = kit.client("ann")
        await ann.says("hello")
        assert ann.received == []


def test_middleware_placement_is_checked() -> None:
    from omniline.pipeline.builtins import BUILTINS
    from omniline.pipeline.middleware import MiddlewareChain

    chain = MiddlewareChain(dict(BUILTINS))

    async def mw(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
        await call_next(event, ctx)

    with pytest.raises(ValueError, match="unknown built-in"):
        chain.add(mw, before="nope")
    with pytest.raises(ValueError, match="exactly one"):
        chain.add(mw)
    with pytest.raises(ValueError, match="exactly one"):
        chain.add(mw, before="bot", after="bot")


async def test_whispers_never_reach_the_client() -> None:
    async with Kit(operators={"anna": "Anna", "boris": "Boris"}) as kit:
        ann = kit.client("ann")
        await ann.says("I need help")
        anna = kit.operator("anna")
        await anna.accepts(ann)
        await anna.whispers(ann, "VIP client, be nice")
        await anna.replies(ann, "Hello!")
        assert ann.received == ["Hello!"]
        assert [m.text for m in await ann.history()] == ["I need help", "Hello!"]
        dialog = await ann.dialog()
        internal = await kit.app.store.dialogs.messages(dialog.id, with_internal=True)
        assert "VIP client, be nice" in [m.text for m in internal]
        assert all(d.message.text != "VIP client, be nice" for d in kit.channel.attempts)


async def test_recovery_does_not_loop_on_an_event_it_cannot_process(tmp_path: object) -> None:
    """Regression: recovery re-read events left pending (e.g. of a removed line) forever."""
    from datetime import timedelta
    from pathlib import Path

    from omniline.model import ChannelRef, Identity, InboundMessage

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with Kit(database_url=url) as kit:
        event = InboundEvent(
            event_id="orphan-1",
            identity=Identity(channel=ChannelRef(type="fake", account="test"), external_id="ann"),
            message=InboundMessage(text="hello"),
            received_at=kit.clock.now(),
        )
        await kit.app.store.inbox.ingest(event, line_id="removed", initial_status=DialogStatus.BOT)
    async with Kit(database_url=url) as kit:
        later = kit.clock.now() + timedelta(days=1)
        recovered = await asyncio.wait_for(kit.app.pipeline.recover(before=later), timeout=10)
        assert recovered == 1
        still = await kit.app.store.inbox.pending(before=later)
        assert [p.event.event_id for p in still] == ["orphan-1"]  # kept for when the line returns


async def test_the_bot_stays_silent_in_a_dialog_closed_before_its_message_was_handled() -> None:
    """Regression: a dialog closed (say, by another worker) between a message's arrival and its
    turn in the pipeline got a bot answer."""
    from omniline.engine.ports import StatusAction
    from omniline.model import ChannelRef, Identity, InboundMessage

    async with Kit(bot=make_bot()) as kit:
        event = InboundEvent(
            event_id="late",
            identity=Identity(channel=ChannelRef(type="fake", account="test"), external_id="ann"),
            message=InboundMessage(text="hello"),
            received_at=kit.clock.now(),
        )
        receipt = await kit.app.store.inbox.ingest(
            event, line_id="support", initial_status=DialogStatus.BOT
        )
        close = StatusAction(expected=DialogStatus.BOT, status=DialogStatus.CLOSED)
        await kit.app.store.dialogs.apply(receipt.dialog_id, [close])
        kit.app.pipeline.submit(event, receipt, "support")  # its snapshot still says "bot"
        await kit.settle()
        assert kit.channel.texts_to("ann") == []
        assert await kit.app.store.inbox.pending(before=kit.clock.now()) == []


async def test_a_failing_handler_does_not_close_the_dialog_it_asked_to_close() -> None:
    """Regression: the errors middleware dropped replies but still carried out ctx.close()."""
    bot = Router()

    @bot.message()
    async def broken(ctx: MessageContext) -> None:
        ctx.close("done")
        raise RuntimeError("bug after close")

    async with Kit(bot=bot) as kit:
        ann = kit.client("ann")
        await ann.says("hello")
        assert (await ann.dialog()).status is DialogStatus.QUEUED


async def test_a_regex_match_never_leaks_to_another_handler() -> None:
    bot = Router()
    seen: list[object] = []

    @bot.message(Regex(r"order (\d+)") & Text("never"))
    async def never(ctx: MessageContext) -> None:
        raise AssertionError("unreachable")

    @bot.message()
    async def other(ctx: MessageContext) -> None:
        seen.append(ctx.match)

    async with Kit(bot=bot) as kit:
        await kit.client("ann").says("order 5")
        assert seen == [None]


async def test_middlewares_added_before_start_also_see_recovered_messages(tmp_path: object) -> None:
    from datetime import timedelta
    from pathlib import Path

    from omniline.model import ChannelRef, Identity, InboundMessage

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with Kit(database_url=url) as kit:
        event = InboundEvent(
            event_id="left-over",
            identity=Identity(channel=ChannelRef(type="fake", account="test"), external_id="ann"),
            message=InboundMessage(text="hello"),
            received_at=kit.clock.now() - timedelta(seconds=5),
        )
        await kit.app.store.inbox.ingest(event, line_id="support", initial_status=DialogStatus.BOT)
    seen: list[str] = []

    async def spy(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
        seen.append(ctx.text)
        await call_next(event, ctx)

    kit = Kit(database_url=url, bot=make_bot())
    kit.app.middlewares.add(spy, before="bot")
    async with kit:
        await kit.settle()
        assert seen == ["hello"]
        assert kit.channel.texts_to("ann") == ["Hello there"]


async def test_a_reply_keyboard_press_comes_back_as_its_label_and_counts_as_the_button() -> None:
    bot = Router()

    @bot.message(Command("start"))
    async def start(ctx: MessageContext) -> None:
        keyboard = OutboundMessage(
            text="Pick one",
            buttons=((Button(text="Prices", payload="prices"),),),
            inline=False,
        )
        ctx.send(keyboard, author="bot")

    @bot.message(ButtonPressed("prices"))
    async def prices(ctx: MessageContext) -> None:
        ctx.reply("Espresso 2 EUR")

    @bot.message()
    async def other(ctx: MessageContext) -> None:
        ctx.reply("not a button")

    async with Kit(bot=bot) as kit:
        ann = kit.client("ann")
        await ann.says("/start")
        assert kit.channel.sent[-1].message.buttons  # the channel shows the keyboard itself
        await ann.says("prices")  # the platform sends the label as text
        assert ann.last == "Espresso 2 EUR"
        await ann.says("something else")
        assert ann.last == "not a button"
