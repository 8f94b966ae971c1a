"""The Telegram desk end to end: a real app on SQLite, a client on a fake channel, the desk bot on
the fake Bot API, operators pressing buttons and writing in topics."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from omniline_telegram import TelegramDesk, TelegramDeskSettings
from omniline_telegram.desk import plugin
from omniline_telegram.testing import (
    DESK_TOKEN,
    GROUP_ID,
    FakeTelegram,
    group_callback_update,
    serve,
    topic_message_update,
)
from pydantic import ValidationError

from omniline import Config, MessageContext, Omniline, Router
from omniline.errors import ConfigError
from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    ContactShare,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
    Unsupported,
    Visibility,
)
from omniline.plugins import InboundSink, desk_plugin
from omniline.testing import FakeChannel, TemporaryPostgres, VirtualClock, fake_channel_plugin

ANN, BOB, STRANGER = 1001, 1002, 1999
REF = ChannelRef(type="fake", account="test")


async def eventually(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """The desk talks HTTP to the fake on real time: wait for it, boundedly."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not in time: {what}")


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram(token=DESK_TOKEN)
    server = await serve(fake)
    try:
        yield fake, str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


def desk_settings(base: str, **changes: Any) -> dict[str, Any]:
    return {
        "token": DESK_TOKEN,
        "api_base_url": base,
        "group_id": GROUP_ID,
        "operators": {"ann": ANN, "bob": BOB},
        **changes,
    }


def config(database: Path | str, base: str, desk: dict[str, Any] | None) -> Config:
    """``database``: a SQLite file, or a PostgreSQL URL (several apps on one database)."""
    desks = [] if desk is None else [{"type": "telegram", "settings": desk_settings(base, **desk)}]
    return Config.model_validate(
        {
            "storage": {"url": database if isinstance(database, str) else f"sqlite:///{database}"},
            "operators": [{"id": "ann", "name": "Ann"}, {"id": "bob", "name": "Bob"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["ann", "bob"],
                    "rating": {"enabled": True},
                    "channels": [{"type": "fake", "account": "test"}],
                },
                {
                    "id": "sales",
                    "name": "Sales",
                    "channels": [{"type": "fake", "account": "sales"}],
                },
            ],
            "desks": desks,
        }
    )


class ClientChannel(FakeChannel):
    """The fake channel, able to bring in any message a client can send."""

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink
        await super().start(sink)

    async def sends(
        self, external_id: str, message: InboundMessage, event_id: str, at: datetime
    ) -> None:
        identity = Identity(channel=self.ref, external_id=external_id, display_name="Zoe")
        await self.sink(
            InboundEvent(
                event_id=event_id,
                identity=identity,
                message=message,
                received_at=at,
            )
        )


class Scene:
    """The app with the desk (through its entry point), the client's channel and the group."""

    def __init__(self, fake: FakeTelegram, base: str, database: Path | str) -> None:
        self.fake, self.base, self.database = fake, base, database
        self.clock = VirtualClock()
        self.updates = itertools.count(1)
        self.events = itertools.count(1)
        self.app: Omniline
        self.channel: ClientChannel
        self.sales: FakeChannel

    async def start(
        self, *, bots: dict[str, Router] | None = None, desk: bool = True, **settings: Any
    ) -> None:
        self.channel = ClientChannel(REF, clock=self.clock)
        self.sales = FakeChannel(ChannelRef(type="fake", account="sales"), clock=self.clock)
        channels = {REF: self.channel, self.sales.ref: self.sales}
        base = fake_channel_plugin(self.channel)

        def factory(ref: ChannelRef, settings: Any, host: Any) -> FakeChannel:
            channels[ref].bind(host.clock)
            return channels[ref]

        fakes = dataclasses.replace(base, name="fake", factory=factory)
        self.app = Omniline(
            config(self.database, self.base, settings if desk else None),
            clock=self.clock,
            bots=bots,
            channel_plugins={"fake": fakes},
            migrate=True,
            serve_http=False,
        )
        await self.app.start()
        for operator in ("ann", "bob"):
            await self.app.operators.set_presence(operator, "online")
            await self.app.operators.start_day(operator)

    @property
    def desk(self) -> TelegramDesk:
        desk = self.app.desks["telegram"]
        assert isinstance(desk, TelegramDesk)
        return desk

    async def caught_up(self) -> None:
        """Everything handled, sent, and shown in the group."""
        if "telegram" not in self.app.desks:
            await self.app.idle()
            return
        for _ in range(500):
            await self.app.idle()
            page = await self.app.store.feed.read(self.desk.cursor)
            if not page.events and not page.messages:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the desk did not catch up with the feed")

    async def client_writes(
        self, text: str, *, who: str = "zoe", channel: FakeChannel | None = None
    ) -> int:
        event_id = f"in-{next(self.events)}"  # unique across restarts, unlike the channel's own
        receipt = await (channel or self.channel).receive(
            who, text, event_id=event_id, display_name=who.title()
        )
        await self.caught_up()
        return receipt.dialog_id

    async def update(self, update: dict[str, Any]) -> None:
        self.fake.queue_update(update)
        await self.handled(int(update["update_id"]))

    async def handled(self, update_id: int) -> None:
        await eventually(lambda: (self.desk.offset or 0) > update_id, f"update {update_id} handled")
        await self.caught_up()

    async def press(self, user: int, data: str, message_id: int) -> dict[str, Any]:
        """``user`` presses a button; returns the desk's answer to the press."""
        update_id = next(self.updates)
        await self.update(
            group_callback_update(update_id, data, user_id=user, message_id=message_id)
        )
        [answer] = [
            a
            for a in self.fake.of("answerCallbackQuery")
            if a["callback_query_id"] == f"cb-{update_id}"
        ]
        return answer

    async def write(self, user: int, thread: int, text: str) -> int:
        """``user`` writes in a topic; returns the Telegram message id."""
        update_id = next(self.updates)
        update = topic_message_update(update_id, thread, text, user_id=user)
        await self.update(update)
        return int(update["message"]["message_id"])

    def answers_to(self, message_id: int) -> list[str]:
        """What the desk answered in a topic to one message of an operator."""
        return [
            str(p["text"])
            for p in self.fake.of("sendMessage")
            if p.get("reply_parameters", {}).get("message_id") == message_id
        ]

    def announcements(self, thread: int) -> list[dict[str, Any]]:
        return [p for p in self.fake.in_topic(thread) if "reply_markup" in p]


@pytest_asyncio.fixture
async def scene(tmp_path: Path, telegram: tuple[FakeTelegram, str]) -> AsyncIterator[Scene]:
    fake, base = telegram
    scene = Scene(fake, base, tmp_path / "db.sqlite")
    await scene.start()
    try:
        yield scene
    finally:
        await scene.app.stop()


def buttons_of(call: dict[str, Any]) -> list[tuple[str, str]]:
    markup = call.get("reply_markup") or {}
    return [
        (b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
    ]


async def test_a_new_dialog_gets_a_topic_with_its_message_and_the_offer(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    texts = scene.fake.topic_texts(thread)
    assert texts[0] == "👤 Zoe: hi there"
    [offer] = scene.announcements(thread)
    assert offer["text"] == "🔔 Offered to Ann"
    assert buttons_of(offer) == [("Accept", f"acc:{d}"), ("Skip", f"skip:{d}")]
    [mention] = offer["entities"]  # Telegram tells Ann
    assert mention["type"] == "text_mention" and mention["user"]["id"] == ANN
    assert scene.fake.of("createForumTopic")[0]["chat_id"] == str(GROUP_ID)


async def test_buttons_follow_the_dialog_rules(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    announcement = offer_id(scene, thread)

    refused = await scene.press(BOB, f"skip:{d}", announcement)
    assert refused["text"] == f"dialog {d} is not offered to bob"
    assert refused["show_alert"] == "true"  # as a form field
    refused = await scene.press(BOB, f"acc:{d}", announcement)
    assert refused["text"] == f"dialog {d} is offered to operator ann, not to bob"
    stranger = await scene.press(STRANGER, f"acc:{d}", announcement)
    assert "Only the desk's operators" in stranger["text"]
    assert (await scene.app.dialogs.get(d)).status is DialogStatus.OFFERED

    taken = await scene.press(ANN, f"acc:{d}", announcement)
    assert taken["text"] == f"Dialog {d} is yours."
    dialog = await scene.app.dialogs.get(d)
    assert (dialog.status, dialog.operator_id) == (DialogStatus.ACTIVE, "ann")
    [edit] = scene.fake.of("editMessageText")
    assert int(edit["message_id"]) == announcement
    assert edit["text"] == "🔔 Offered to Ann\n✅ Accepted by Ann"
    assert "reply_markup" not in edit  # the buttons are gone


async def test_skip_passes_the_dialog_to_the_next_operator(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    answer = await scene.press(ANN, f"skip:{d}", offer_id(scene, thread))
    assert answer["text"] == f"You passed dialog {d} on."
    dialog = await scene.app.dialogs.get(d)
    assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "bob")
    [edit] = scene.fake.of("editMessageText")
    assert edit["text"].endswith("⏭ Skipped by Ann")
    _, second = scene.announcements(thread)
    assert second["text"] == "🔔 Offered to Bob"


async def test_an_operator_answers_from_the_topic_and_whispers_stay_in_the_group(
    scene: Scene,
) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    shown_before = len(scene.fake.topic_texts(thread))

    await scene.write(ANN, thread, "Hello Zoe, how can I help?")
    assert scene.channel.texts_to("zoe") == ["Hello Zoe, how can I help?"]
    await scene.write(ANN, thread, "!regular client, be nice")
    assert scene.channel.texts_to("zoe") == ["Hello Zoe, how can I help?"]
    stored = await scene.app.store.dialogs.messages(d, with_internal=True)
    whisper = stored[-1]
    assert (whisper.text, whisper.visibility, whisper.author) == (
        "regular client, be nice",
        Visibility.OPERATORS,
        "operator:ann",
    )
    # what Ann wrote in the topic is there already: not repeated by the desk
    assert len(scene.fake.topic_texts(thread)) == shown_before

    # written elsewhere (another desk, code): shown in the topic with the author's name
    await scene.app.dialogs.reply(d, "ann", "Sent from the console")
    await scene.app.dialogs.whisper(d, "bob", "I know her")
    await scene.caught_up()
    assert scene.fake.topic_texts(thread)[shown_before:] == [
        "💬 Ann: Sent from the console",
        "🔒 Bob (whisper): I know her",
    ]

    # the client writes again: in the topic
    await scene.client_writes("my order is late")
    assert scene.fake.topic_texts(thread)[-1] == "👤 Zoe: my order is late"


async def test_writing_is_refused_by_the_dialog_rules_and_strangers_are_ignored(
    scene: Scene,
) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    early = await scene.write(ANN, thread, "Hello?")  # offered, not accepted yet
    assert scene.answers_to(early) == [f"operator ann is not in dialog {d} (offered)"]
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    bob = await scene.write(BOB, thread, "I answer too")
    assert scene.answers_to(bob) == [f"operator bob is not in dialog {d} (active)"]
    shown = len(scene.fake.of("sendMessage"))
    await scene.write(STRANGER, thread, "I am not an operator")
    assert scene.channel.texts_to("zoe") == []
    assert len(scene.fake.of("sendMessage")) == shown  # not even an answer


async def test_commands_work_through_the_dialog_rules(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))

    bad = await scene.write(ANN, thread, "/transfer")
    assert scene.answers_to(bad) == ["write /transfer <operator id> or /transfer line <line id>"]
    nobody = await scene.write(ANN, thread, "/transfer zed")
    assert scene.answers_to(nobody) == ["no operator 'zed'"]
    unknown = await scene.write(ANN, thread, "/frobnicate")
    assert scene.answers_to(unknown) == ["unknown command /frobnicate; /help lists the commands"]
    not_holder = await scene.write(BOB, thread, "/invite ann")
    assert scene.answers_to(not_holder) == [f"operator bob does not hold dialog {d}"]

    await scene.write(ANN, thread, "/invite bob")
    assert await scene.app.store.operators.members(d) == ["bob"]
    await scene.write(ANN, thread, "/pin")
    assert (await scene.app.dialogs.get(d)).pinned
    rating = await scene.write(ANN, thread, "/rating")
    assert scene.answers_to(rating) == [f"Dialog {d} is not rated"]
    help_ = await scene.write(ANN, thread, "/help@shop_bot")
    assert "!text - a whisper" in scene.answers_to(help_)[0]
    others = await scene.write(ANN, thread, "/close@another_bot")  # not for this bot
    assert scene.answers_to(others) == []
    assert (await scene.app.dialogs.get(d)).status is DialogStatus.ACTIVE
    shown = scene.fake.topic_texts(thread)
    assert "👥 Ann invited Bob" in shown
    assert "📌 Ann pinned the dialog: it is never closed automatically" in shown

    await scene.write(ANN, thread, "/transfer bob")
    dialog = await scene.app.dialogs.get(d)
    assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "bob")
    assert "↔️ Ann transferred the dialog to Bob" in scene.fake.topic_texts(thread)
    transfer = scene.announcements(thread)[-1]  # Bob's offer, as any offer
    assert transfer["text"].startswith("🔔 Offered to Bob")
    assert buttons_of(transfer) == [("Accept", f"acc:{d}"), ("Skip", f"skip:{d}")]
    await scene.press(BOB, f"acc:{d}", scene.fake.message_id_of(transfer))
    assert (await scene.app.dialogs.get(d)).operator_id == "bob"

    await scene.write(BOB, thread, "/close solved")
    dialog = await scene.app.dialogs.get(d)
    assert dialog.status is DialogStatus.CLOSED
    assert "🏁 Closed by Bob (solved)" in scene.fake.topic_texts(thread)
    assert [int(c["message_thread_id"]) for c in scene.fake.of("closeForumTopic")] == [thread]
    question = scene.channel.texts_to("zoe")[-1]
    assert question.startswith("Please rate how we helped you")
    assert scene.fake.topic_texts(thread)[-1].startswith("💬 Auto-reply: Please rate")

    await scene.client_writes("5")
    assert (await scene.app.dialogs.get(d)).rating == 5
    assert "⭐ The client rated the dialog 5/5" in scene.fake.topic_texts(thread)
    rated = await scene.write(BOB, thread, "/rating")
    assert scene.answers_to(rated) == [f"⭐ The client rated dialog {d} 5/5"]

    await scene.write(ANN, thread, "/reopen")
    dialog = await scene.app.dialogs.get(d)
    assert (dialog.status, dialog.operator_id) == (DialogStatus.ACTIVE, "ann")
    assert [int(c["message_thread_id"]) for c in scene.fake.of("reopenForumTopic")] == [thread]
    assert scene.fake.topic_texts(thread)[-2:] == ["🔄 Reopened by Ann", "✅ Ann took the dialog"]


async def test_a_restart_goes_on_where_the_desk_was(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    hello = topic_message_update(next(scene.updates), thread, "Hello!", user_id=ANN)
    await scene.update(hello)
    assert scene.channel.texts_to("zoe") == ["Hello!"]

    # Telegram sends an update again (its confirmation got lost): handled once only
    scene.fake.redeliver(hello)
    marker = topic_message_update(next(scene.updates), thread, "!checked", user_id=ANN)
    await scene.update(marker)
    assert scene.channel.texts_to("zoe") == ["Hello!"]

    await scene.app.stop()
    sent = len(scene.fake.of("sendMessage"))
    await scene.start()
    scene.fake.redeliver(hello)  # and again after the restart
    await scene.client_writes("are you there?")
    marker = topic_message_update(next(scene.updates), thread, "Yes!", user_id=ANN)
    await scene.update(marker)

    assert len(scene.fake.of("createForumTopic")) == 1  # the dialog keeps its topic
    assert scene.fake.topic_texts(thread)[-1] == "👤 Zoe: are you there?"
    assert len(scene.fake.of("sendMessage")) == sent + 1  # nothing old shown again
    assert scene.channel.texts_to("zoe") == ["Yes!"]  # a channel started afresh: no "Hello!" again


async def test_flood_control_is_waited_out(scene: Scene) -> None:
    scene.fake.fail_next("createForumTopic", 429, "Too Many Requests: retry after 7", retry_after=7)
    await scene.channel.receive("zoe", "hi there", display_name="Zoe")
    await scene.app.idle()
    await eventually(lambda: scene.clock.sleepers > 0 and len(scene.fake.calls) > 0, "a wait")
    await eventually(lambda: len(scene.fake.of("createForumTopic")) == 1, "the first try")
    await asyncio.sleep(0.05)
    assert not scene.fake.topics
    await scene.clock.advance(7)
    await scene.caught_up()
    thread = scene.fake.topic_named("Zoe · fake")
    assert scene.fake.topic_texts(thread)[0] == "👤 Zoe: hi there"
    assert len(scene.fake.of("createForumTopic")) == 2


async def test_only_the_lines_asked_for_get_topics(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, base = telegram
    scene = Scene(fake, base, tmp_path / "db.sqlite")
    await scene.start(lines=["support"])
    try:
        await scene.sales.receive("max", "how much is it?", display_name="Max")
        await scene.client_writes("hi there")
        assert list(fake.topics.values()) == ["Zoe · fake"]
    finally:
        await scene.app.stop()


async def test_the_bots_conversation_shows_when_the_dialog_reaches_operators(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, base = telegram
    bot = Router()

    @bot.message()
    async def price(ctx: MessageContext) -> None:
        ctx.reply("It costs 10 EUR")

    scene = Scene(fake, base, tmp_path / "db.sqlite")
    await scene.start(bots={"sales": bot})
    try:
        await scene.client_writes("how much is it?", who="max", channel=scene.sales)
        assert not fake.topics  # the bot answers alone: nothing for operators
        await scene.client_writes("operator", who="max", channel=scene.sales)
        thread = fake.topic_named("Max · fake")
        texts = fake.topic_texts(thread)
        handoff = texts.index(
            "🙋 The bot handed the dialog to operators: client asked for an operator"
        )
        # what came before, the bot's conversation in one message (the last one may be apart)
        assert texts[0].startswith("👤 Max: how much is it?\n\n💬 Bot: It costs 10 EUR")
        assert "\n\n".join(texts[:handoff]) == (
            "👤 Max: how much is it?\n\n💬 Bot: It costs 10 EUR\n\n👤 Max: operator"
        )
    finally:
        await scene.app.stop()


async def test_offered_to_all_the_first_to_accept_takes_it(scene: Scene) -> None:
    scene.app.lines["support"].update(distribution="all")
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    [offer] = scene.announcements(thread)
    assert offer["text"] == "🔔 Offered to Ann, Bob: the first to accept takes it"
    assert buttons_of(offer) == [("Accept", f"acc:{d}")]  # nobody skips an offer to all
    await scene.press(BOB, f"acc:{d}", offer_id(scene, thread))
    assert (await scene.app.dialogs.get(d)).operator_id == "bob"
    withdrawn, accepted = scene.fake.of("editMessageText")
    assert withdrawn["text"].endswith("No longer offered to Ann")
    assert buttons_of(withdrawn) == [("Accept", f"acc:{d}")]
    assert accepted["text"] == (
        "🔔 Offered to Ann, Bob: the first to accept takes it\n"
        "No longer offered to Ann\n"
        "✅ Accepted by Bob"
    )


async def test_a_transfer_to_another_line_shows_in_the_topic(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    await scene.write(ANN, thread, "/transfer line sales")
    assert (await scene.app.dialogs.get(d)).line_id == "sales"
    assert "↔️ Ann transferred the dialog to the line Sales" in scene.fake.topic_texts(thread)


async def test_a_deleted_topic_is_opened_anew_with_the_dialog_so_far(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    old = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, old))
    scene.fake.fail_next("sendMessage", 400, "Bad Request: message thread not found")
    await scene.client_writes("hello?")
    new = max(scene.fake.topics)
    assert new != old and scene.fake.topics[new] == "Zoe · fake"
    assert scene.fake.topic_texts(new) == ["👤 Zoe: hi there", "👤 Zoe: hello?"]
    await scene.write(ANN, new, "Here I am")  # the new topic is the dialog's
    assert scene.channel.texts_to("zoe") == ["Here I am"]


async def test_files_from_operators_are_not_passed_on(scene: Scene) -> None:
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    update_id = next(scene.updates)
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 9, "height": 9}]
    update = topic_message_update(update_id, thread, "", user_id=ANN, photo=photo, caption="look")
    await scene.update(update)
    assert scene.channel.texts_to("zoe") == ["look"]
    assert scene.answers_to(update_id * 10) == [
        "Files are not passed on from here: only text reaches the client."
    ]


async def test_an_operators_photo_in_an_older_shape_still_passes_its_caption_on(
    scene: Scene,
) -> None:
    """aiogram's models refused a photo without ``file_unique_id``: the poll failed, again and
    again, and the desk read nothing after it."""
    d = await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    await scene.press(ANN, f"acc:{d}", offer_id(scene, thread))
    update_id = next(scene.updates)
    photo = [{"file_id": "AgAD-old", "width": 9, "height": 9}]
    update = topic_message_update(update_id, thread, "", user_id=ANN, photo=photo, caption="look")
    await scene.update(update)
    assert scene.channel.texts_to("zoe") == ["look"]
    assert scene.answers_to(update_id * 10) == [
        "Files are not passed on from here: only text reaches the client."
    ]
    await scene.write(ANN, thread, "and this")
    assert scene.channel.texts_to("zoe") == ["look", "and this"]


async def test_the_desk_shows_every_kind_of_client_message(scene: Scene) -> None:
    """A location or a shared contact showed as an empty message, a press as its payload alone,
    and something unsupported not at all."""
    await scene.client_writes("hi there")
    thread = scene.fake.topic_named("Zoe · fake")
    sent = [
        InboundMessage(location=Location(latitude=52.52, longitude=13.405)),
        InboundMessage(contact=ContactShare(phone="4915112345678", name="Zoe Adler")),
        InboundMessage(
            attachments=(Attachment(kind=AttachmentKind.STICKER, file_id="CAAD", name="😅"),)
        ),
        InboundMessage(
            attachments=(Attachment(kind=AttachmentKind.IMAGE, file_id="AgAD"),), text="broken"
        ),
        InboundMessage(text="Yes, thanks", button_payload="helpful:yes"),
        InboundMessage(unsupported=Unsupported(kind="poll")),
    ]
    for i, message in enumerate(sent):
        await scene.channel.sends("zoe", message, f"kinds-{i}", scene.clock.now())
    await scene.caught_up()
    assert scene.fake.topic_texts(thread)[-len(sent) :] == [
        "👤 Zoe: 📍 52.52, 13.405: https://www.openstreetmap.org/?mlat=52.52&mlon=13.405"
        "#map=17/52.52/13.405",
        "👤 Zoe: 📞 Zoe Adler: 4915112345678",
        "👤 Zoe: 🏷 sticker 😅",
        "👤 Zoe: broken\n🖼 photo",
        "👤 Zoe: 🔘 pressed “Yes, thanks” [helpful:yes]",
        "👤 Zoe: ⚠️ unsupported: poll",
    ]


async def test_the_first_start_begins_with_what_happens_from_then_on(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, base = telegram
    scene = Scene(fake, base, tmp_path / "db.sqlite")
    await scene.start(desk=False)
    await scene.client_writes("before the desk", who="old")
    await scene.app.stop()
    await scene.start()
    try:
        await scene.client_writes("hi there")
        assert list(fake.topics.values()) == ["Zoe · fake"]  # nothing from before
        await scene.client_writes("still waiting", who="old")
        thread = fake.topic_named("Old · fake")  # with operators: it gets its topic now
        assert fake.topic_texts(thread) == ["👤 Old: before the desk", "👤 Old: still waiting"]
    finally:
        await scene.app.stop()


def offer_id(scene: Scene, thread: int) -> int:
    """The message id of the topic's last announcement."""
    return scene.fake.message_id_of(scene.announcements(thread)[-1])


# --- settings -------------------------------------------------------------------------------------


def test_the_entry_point_names_the_desk() -> None:
    assert desk_plugin("telegram") is plugin


def test_the_token_is_not_echoed() -> None:
    settings = TelegramDeskSettings.model_validate(desk_settings("http://x"))
    assert DESK_TOKEN not in repr(settings)
    assert settings.whisper_prefix == "!" and settings.lines is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"group_id": 12345}, "must be a supergroup's chat id"),
        ({"operators": {"ann": 1, "bob": 1}}, "given to both ann and bob"),
        ({"operators": {}}, "at least 1 item"),
        ({"whisper_prefix": "/w"}, "must not start with '/'"),
        ({"grup_id": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_say_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TelegramDeskSettings.model_validate(desk_settings("http://x", **changes))


async def test_bad_settings_are_a_config_error_naming_the_key(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, base = telegram
    scene = Scene(fake, base, tmp_path / "db.sqlite")
    with pytest.raises(
        ConfigError, match=r"desks\[0\]\.settings\.group_id: .*supergroup"
    ) as caught:
        await scene.start(group_id=123)
    assert DESK_TOKEN not in str(caught.value)


async def test_operators_and_lines_must_be_known(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, base = telegram
    for changes, message in [
        ({"operators": {"ann": ANN, "zed": 7}}, "desks\\[0\\]: operators: zed not among"),
        ({"lines": ["nowhere"]}, "desks\\[0\\]: lines: no line nowhere"),
    ]:
        scene = Scene(fake, base, tmp_path / "db.sqlite")
        with pytest.raises(ConfigError, match=message):
            await scene.start(**changes)


async def test_one_of_two_workers_runs_the_desk_and_the_other_takes_over_when_it_stops(
    telegram: tuple[FakeTelegram, str], temporary_postgres: TemporaryPostgres
) -> None:
    """Each worker's desk would show every event in the group, and both would poll getUpdates:
    the desk's loops run in the worker holding its lease."""
    fake, base = telegram
    url = await asyncio.to_thread(temporary_postgres.create_database, "desk_two_workers")
    first, second = Scene(fake, base, url), Scene(fake, base, url)
    second.events = itertools.count(1000)  # the client's event ids stay unique across both
    await first.start()
    await second.start()
    stopped = False
    try:
        lease = "desk:telegram:group"
        assert await first.app.store.leases.holder(lease, now=datetime.now(UTC)) == (
            first.app.leases.owner
        )
        await first.client_writes("hi there")
        thread = fake.topic_named("Zoe · fake")
        await asyncio.sleep(0.5)  # time enough for a second desk to show it again
        assert fake.topic_texts(thread).count("👤 Zoe: hi there") == 1

        await first.app.stop()
        stopped = True
        await second.client_writes("still there?")  # waits for the second desk to catch up
        assert fake.topic_texts(thread).count("👤 Zoe: still there?") == 1
        assert fake.topic_texts(thread).count("👤 Zoe: hi there") == 1  # its cursor, not anew
        assert len(fake.of("createForumTopic")) == 1  # the dialog keeps its topic
        assert await second.app.store.leases.holder(lease, now=datetime.now(UTC)) == (
            second.app.leases.owner
        )
    finally:
        if not stopped:
            await first.app.stop()
        await second.app.stop()
