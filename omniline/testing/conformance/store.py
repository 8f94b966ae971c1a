"""The conformance suite of the store (:class:`~omniline.store.SqlStore`): every method of every
repository (``inbox``, ``dialogs``, ``outbox``, ``timers``, ``operators``, ``feed``, ``state``,
``clients``, ``stats``), on a database the subclass opens.

Subclass :class:`StoreConformance` in a test module (with a ``Test`` prefix, so pytest collects it)
and say how to open a store on a fresh, migrated, empty database::

    from omniline.store import SqlStore, open_store
    from omniline.testing.conformance import StoreConformance

    class TestMyDatabase(StoreConformance):
        async def open_store(self, clock: VirtualClock) -> SqlStore:
            return await open_store(fresh_database_url(), clock)

Every test drives the store through its repositories only, with a virtual clock the store must
take its time from. pytest-asyncio runs the tests, in its ``auto`` or ``strict`` mode alike.
"""

from __future__ import annotations

import asyncio
import itertools
import typing
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from pydantic import JsonValue

from omniline.engine.ports import (
    Delivery,
    DialogAction,
    FeedCursor,
    FieldsAction,
    LogAction,
    MemberAction,
    OutboxResult,
    ProfileAction,
    Receipt,
    RouteAction,
    RoutePlan,
    SendAction,
    StatusAction,
    Timer,
    TimerAction,
)
from omniline.errors import DialogConflict, DialogError, OmnilineError, OperatorBusy
from omniline.model import (
    Accepted,
    Attachment,
    AttachmentKind,
    BackToBot,
    Button,
    ChannelRef,
    Closed,
    ContactShare,
    DialogEvent,
    DialogStatus,
    Direction,
    HandedOff,
    Identity,
    InboundEvent,
    InboundMessage,
    Invited,
    Location,
    Offered,
    Opened,
    OutboundMessage,
    Pinned,
    Presence,
    Queued,
    Rated,
    Reopened,
    Shift,
    Skipped,
    Transferred,
    Unpinned,
    Visibility,
    Whispered,
    Withdrawn,
)
from omniline.store.dialogs import OutOfTurn
from omniline.store.sql_store import SqlStore
from omniline.testing.clock import VirtualClock

__all__ = ["StoreConformance"]

LINE = "support"
OTHER_LINE = "sales"
TELEGRAM = ChannelRef(type="telegram", account="main-bot")
TELEGRAM_OTHER_ACCOUNT = ChannelRef(type="telegram", account="second-bot")
VIBER = ChannelRef(type="viber", account="main-bot")

BOT = DialogStatus.BOT
QUEUED = DialogStatus.QUEUED
ACTIVE = DialogStatus.ACTIVE
CLOSED = DialogStatus.CLOSED

ONLINE = Presence.ONLINE
OFFLINE = Presence.OFFLINE
WORKING = Shift.WORKING
NOT_STARTED = Shift.NOT_STARTED

PHONE = "+4915112345678"

LEASE = 30.0
"""The lease the tests ask for when they claim outbox deliveries or timers."""

_event_ids = itertools.count(1)


# --- building blocks ------------------------------------------------------------------------------


def identity(
    external_id: str = "client-1",
    *,
    channel: ChannelRef = TELEGRAM,
    display_name: str | None = None,
    profile: dict[str, str] | None = None,
) -> Identity:
    return Identity(
        channel=channel, external_id=external_id, display_name=display_name, profile=profile or {}
    )


def inbound(
    clock: VirtualClock,
    external_id: str = "client-1",
    text: str | None = "hello",
    *,
    channel: ChannelRef = TELEGRAM,
    event_id: str | None = None,
    message: InboundMessage | None = None,
    display_name: str | None = None,
    profile: dict[str, str] | None = None,
    raw: JsonValue = None,
) -> InboundEvent:
    """An inbound event from ``external_id``, received now, with a fresh event id unless given."""
    return InboundEvent(
        event_id=event_id or f"evt-{next(_event_ids)}",
        identity=identity(external_id, channel=channel, display_name=display_name, profile=profile),
        message=message or InboundMessage(text=text),
        received_at=clock.now(),
        raw=raw,
    )


async def ingest(
    store: SqlStore, event: InboundEvent, *, line_id: str = LINE, status: DialogStatus = BOT
) -> Receipt:
    return await store.inbox.ingest(event, line_id=line_id, initial_status=status)


def send(
    text: str = "how can I help?",
    *,
    author: str = "bot",
    parts: int | Sequence[OutboundMessage] = 1,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> SendAction:
    """A message to the client; ``parts`` is the parts the channel sends, or how many of them."""
    message = OutboundMessage(text=text, buttons=buttons)
    if isinstance(parts, int):
        parts = [OutboundMessage(text=f"{text} [{n + 1}/{parts}]") for n in range(parts)]
    return SendAction(author=author, message=message, parts=tuple(parts))


def whisper(text: str = "VIP client, be quick", *, author: str = "operator:op-1") -> SendAction:
    return SendAction(
        author=author,
        message=OutboundMessage(text=text),
        parts=(),
        visibility=Visibility.OPERATORS,
    )


def move(
    expected: DialogStatus, status: DialogStatus, operator_id: str | None = None
) -> StatusAction:
    return StatusAction(expected=expected, status=status, operator_id=operator_id)


def later(clock: VirtualClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


def same_moment(a: datetime | None, b: datetime) -> bool:
    """Equal to the millisecond: a store may keep time at that precision."""
    return a is not None and abs((a - b).total_seconds()) < 0.001


def every_dialog_event(at: datetime) -> list[DialogEvent]:
    """One event of each kind with every field set (times with microseconds, on purpose)."""
    t = [at + timedelta(seconds=n, microseconds=123457) for n in range(16)]
    return [
        Opened(at=t[0], actor="client"),
        HandedOff(at=t[1], actor="bot", reason="asked for a human"),
        Queued(at=t[2], actor="system"),
        Offered(at=t[3], actor="system", operator_ids=("op-1", "op-2"), hop=2, parked=True),
        Accepted(at=t[4], actor="operator:op-1", operator_id="op-1"),
        Withdrawn(at=t[4], actor="system", operator_ids=("op-2",)),
        Skipped(at=t[5], actor="operator:op-2", operator_id="op-2", reason="timeout"),
        Transferred(
            at=t[6],
            actor="operator:op-1",
            from_operator_id="op-1",
            to_operator_id="op-3",
            to_line_id=OTHER_LINE,
        ),
        Invited(at=t[7], actor="operator:op-3", operator_id="op-4"),
        Whispered(at=t[8], actor="operator:op-3", operator_id="op-3", text="«VIP» — nice ✨"),
        Pinned(at=t[9], actor="operator:op-3"),
        Unpinned(at=t[10]),
        Closed(at=t[11], actor="operator:op-3", reason="resolved"),
        Reopened(at=t[12], actor="client"),
        Rated(at=t[13], actor="client", score=5),
        BackToBot(at=t[14], actor="operator:op-3"),
    ]


def dialog_event_kinds() -> set[str]:
    """Every ``kind`` the ``DialogEvent`` union allows."""
    union = typing.get_args(DialogEvent)[0]
    return {str(model.model_fields["kind"].default) for model in typing.get_args(union)}


# --- the suite ------------------------------------------------------------------------------------


@pytest.mark.asyncio
class StoreConformance:
    """Rules the store keeps on every database. Subclass it as ``TestMyDatabase``; implement
    :meth:`open_store`."""

    delivery_lease: float = 60.0
    """How long (seconds) the store leases the deliveries that ``apply`` returns; the tests let
    that much virtual time pass before they expect such a delivery to be claimable again."""

    async def open_store(self, clock: VirtualClock) -> SqlStore:
        """A store on a fresh, migrated, empty database, taking its time from ``clock``."""
        raise NotImplementedError("a StoreConformance subclass implements open_store(clock)")

    @pytest.fixture
    def clock(self) -> VirtualClock:
        return VirtualClock()

    @pytest_asyncio.fixture
    async def store(self, clock: VirtualClock) -> AsyncIterator[SqlStore]:
        store = await self.open_store(clock)
        try:
            yield store
        finally:
            await store.close()

    # --- ingest -----------------------------------------------------------------------------------

    async def test_ingest_opens_a_dialog_in_the_initial_status(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        event = inbound(clock, display_name="Ann", profile={"username": "ann"})
        receipt = await ingest(store, event, status=QUEUED)

        assert not receipt.duplicate
        dialog = receipt.dialog
        assert dialog is not None
        assert dialog.id == receipt.dialog_id
        assert dialog.status is QUEUED
        assert dialog.line_id == LINE
        assert dialog.identity == event.identity
        assert dialog.operator_id is None
        assert dialog.closed_at is None
        assert same_moment(dialog.opened_at, clock.now())
        assert await store.dialogs.get(receipt.dialog_id) == dialog
        assert await store.dialogs.open_of(event.identity, LINE) == dialog

    async def test_ingest_stores_the_message(self, store: SqlStore, clock: VirtualClock) -> None:
        receipt = await ingest(store, inbound(clock, text="where is my order?"))

        [message] = await store.dialogs.messages(receipt.dialog_id)
        assert message.id == receipt.message_id
        assert message.dialog_id == receipt.dialog_id
        assert receipt.dialog is not None
        assert message.client_id == receipt.dialog.client_id
        assert message.direction is Direction.IN
        assert message.visibility is Visibility.CLIENT
        assert message.author == "client"
        assert message.text == "where is my order?"
        assert same_moment(message.created_at, clock.now())

    async def test_redelivery_is_a_duplicate_with_the_same_ids(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        event = inbound(clock)
        first = await ingest(store, event)
        await clock.advance(5)
        again = await ingest(store, event.model_copy(update={"received_at": clock.now()}))

        assert again.duplicate
        assert (again.inbox_id, again.dialog_id, again.message_id) == (
            first.inbox_id,
            first.dialog_id,
            first.message_id,
        )
        assert again.dialog is None

    async def test_redelivery_stores_nothing(self, store: SqlStore, clock: VirtualClock) -> None:
        event = inbound(clock)
        first = await ingest(store, event)
        assert first.dialog is not None
        before = (
            await store.dialogs.messages(first.dialog_id, with_internal=True),
            await store.dialogs.client_history(first.dialog.client_id, with_internal=True),
            await store.dialogs.events(first.dialog_id),
            await store.inbox.pending(before=later(clock, 60)),
        )

        await ingest(store, event)

        after = (
            await store.dialogs.messages(first.dialog_id, with_internal=True),
            await store.dialogs.client_history(first.dialog.client_id, with_internal=True),
            await store.dialogs.events(first.dialog_id),
            await store.inbox.pending(before=later(clock, 60)),
        )
        assert after == before

    async def test_same_event_id_on_another_account_is_not_a_duplicate(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, event_id="42"))
        other = await ingest(store, inbound(clock, event_id="42", channel=TELEGRAM_OTHER_ACCOUNT))

        assert not other.duplicate
        assert other.inbox_id != first.inbox_id
        assert other.message_id != first.message_id

    async def test_same_event_id_on_another_channel_type_is_not_a_duplicate(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, event_id="42"))
        other = await ingest(store, inbound(clock, event_id="42", channel=VIBER))

        assert not other.duplicate
        assert other.inbox_id != first.inbox_id
        assert other.message_id != first.message_id

    async def test_second_message_lands_in_the_open_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, text="one"))
        await clock.advance(30)
        second = await ingest(store, inbound(clock, text="two"))

        assert second.dialog_id == first.dialog_id
        assert second.message_id != first.message_id
        messages = await store.dialogs.messages(first.dialog_id)
        assert [m.text for m in messages] == ["one", "two"]

    async def test_message_to_a_moved_dialog_keeps_its_status(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock))
        await store.dialogs.apply(first.dialog_id, [move(BOT, QUEUED)])

        second = await ingest(store, inbound(clock), status=BOT)

        assert second.dialog_id == first.dialog_id
        assert second.dialog is not None
        assert second.dialog.status is QUEUED

    async def test_message_after_close_opens_a_new_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock))
        await store.dialogs.apply(first.dialog_id, [move(BOT, CLOSED)])
        assert await store.dialogs.open_of(identity(), LINE) is None

        second = await ingest(store, inbound(clock), status=QUEUED)

        assert second.dialog_id != first.dialog_id
        assert second.dialog is not None
        assert first.dialog is not None
        assert second.dialog.status is QUEUED
        assert second.dialog.client_id == first.dialog.client_id
        assert await store.dialogs.open_of(identity(), LINE) == second.dialog

    async def test_client_history_spans_every_dialog_of_the_client(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, text="first visit"))
        await store.dialogs.apply(first.dialog_id, [send("bye"), move(BOT, CLOSED)])
        await clock.advance(3600)
        second = await ingest(store, inbound(clock, text="second visit"))
        assert first.dialog is not None

        history = await store.dialogs.client_history(first.dialog.client_id)

        assert [(m.dialog_id, m.text) for m in history] == [
            (first.dialog_id, "first visit"),
            (first.dialog_id, "bye"),
            (second.dialog_id, "second visit"),
        ]

    async def test_same_external_id_on_other_channels_is_another_client(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = [
            await ingest(store, inbound(clock, "same-id", channel=channel))
            for channel in (TELEGRAM, TELEGRAM_OTHER_ACCOUNT, VIBER)
        ]

        assert len({r.dialog_id for r in receipts}) == 3
        clients = {r.dialog.client_id for r in receipts if r.dialog is not None}
        assert len(clients) == 3
        for receipt in receipts:
            assert receipt.dialog is not None
            [message] = await store.dialogs.client_history(receipt.dialog.client_id)
            assert message.id == receipt.message_id

    async def test_one_identity_has_one_open_dialog_even_after_a_transfer(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        # A channel belongs to one line; a dialog transferred to another line stays the one the
        # identity's next messages go to.
        support = await ingest(store, inbound(clock), line_id=LINE)
        await store.dialogs.apply(support.dialog_id, [FieldsAction(line_id=OTHER_LINE)])
        again = await ingest(store, inbound(clock), line_id=LINE)

        assert again.dialog_id == support.dialog_id
        assert again.dialog is not None and again.dialog.line_id == OTHER_LINE
        assert await store.dialogs.open_of(identity(), OTHER_LINE) == again.dialog

    async def test_unknown_dialogs_and_identities_read_as_nothing(self, store: SqlStore) -> None:
        assert await store.dialogs.get(987654) is None
        assert await store.dialogs.open_of(identity("nobody"), LINE) is None
        assert await store.dialogs.identity_history(identity("nobody")) == []
        assert await store.dialogs.messages(987654) == []
        assert await store.dialogs.events(987654) == []

    # --- content round trip -----------------------------------------------------------------------

    async def test_inbound_text_round_trips(self, store: SqlStore, clock: VirtualClock) -> None:
        text = "Line one\nline «two» — 'quoted' \"double\" \\ 🎉 中文 \x7f"
        receipt = await ingest(store, inbound(clock, text=text))

        [message] = await store.dialogs.messages(receipt.dialog_id)
        assert message.text == text

    async def test_inbound_attachments_round_trip(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        attachments = (
            Attachment(
                kind=AttachmentKind.IMAGE,
                url="https://cdn.example.com/p/1.jpg?sig=a&b=c",
                name="photo 1.jpg",
                size=204800,
                mime_type="image/jpeg",
            ),
            Attachment(kind=AttachmentKind.DOCUMENT, file_id="BQACAgIAAxkBAAIB", size=0),
            Attachment(kind=AttachmentKind.VOICE, url="https://cdn.example.com/v.ogg"),
        )
        message = InboundMessage(text="see attached", attachments=attachments)
        receipt = await ingest(store, inbound(clock, message=message))

        [stored] = await store.dialogs.messages(receipt.dialog_id)
        assert stored.attachments == attachments
        assert stored.text == "see attached"

    async def test_inbound_contact_share_round_trips(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        contact = ContactShare(phone="+49 30 1234567", name="Ann Example")
        receipt = await ingest(store, inbound(clock, message=InboundMessage(contact=contact)))

        [stored] = await store.dialogs.messages(receipt.dialog_id)
        assert stored.contact == contact
        assert stored.text is None

    async def test_inbound_location_round_trips(self, store: SqlStore, clock: VirtualClock) -> None:
        location = Location(latitude=-33.868820, longitude=151.209296)
        receipt = await ingest(store, inbound(clock, message=InboundMessage(location=location)))

        [stored] = await store.dialogs.messages(receipt.dialog_id)
        assert stored.location == location

    async def test_inbound_button_payload_round_trips(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        message = InboundMessage(text="Yes", button_payload="confirm:order=17")
        receipt = await ingest(store, inbound(clock, message=message))

        [stored] = await store.dialogs.messages(receipt.dialog_id)
        assert stored.button_payload == "confirm:order=17"
        assert stored.text == "Yes"

    async def test_outbound_buttons_and_attachments_round_trip(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        buttons = (
            (Button(text="Yes ✅", payload="yes"), Button(text="No", payload="no")),
            (Button(text="Talk to a human", payload="handoff"),),
        )
        attachments = (
            Attachment(
                kind=AttachmentKind.DOCUMENT,
                url="https://example.com/invoice.pdf",
                name="invoice.pdf",
                size=1024,
                mime_type="application/pdf",
            ),
        )
        message = OutboundMessage(text="Pick one", buttons=buttons, attachments=attachments)
        action = SendAction(author="bot", message=message, parts=(message,))

        [delivery] = await store.dialogs.apply(receipt.dialog_id, [action])

        stored = (await store.dialogs.messages(receipt.dialog_id))[-1]
        assert stored.id == delivery.message_id
        assert stored.direction is Direction.OUT
        assert stored.text == "Pick one"
        assert stored.buttons == buttons
        assert stored.attachments == attachments
        assert delivery.message == message

    # --- profile ----------------------------------------------------------------------------------

    async def test_ingest_merges_profile_fields(self, store: SqlStore, clock: VirtualClock) -> None:
        first = inbound(clock, display_name="Ann", profile={"username": "ann", "language": "en"})
        await ingest(store, first)
        second = inbound(clock, profile={"phone": "+15550100", "language": "de"})
        receipt = await ingest(store, second)

        assert receipt.dialog is not None
        stored = receipt.dialog.identity
        assert stored.display_name == "Ann"
        assert stored.profile == {"username": "ann", "language": "de", "phone": "+15550100"}

    async def test_ingest_replaces_the_display_name_when_given(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await ingest(store, inbound(clock, display_name="Ann"))
        receipt = await ingest(store, inbound(clock, display_name="Ann Example"))

        assert receipt.dialog is not None
        assert receipt.dialog.identity.display_name == "Ann Example"

    async def test_update_profile_merges_into_the_stored_identity(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(
            store, inbound(clock, display_name="Ann", profile={"username": "ann"})
        )

        await store.dialogs.update_profile(identity(profile={"email": "ann@example.com"}))

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.identity.display_name == "Ann"
        assert dialog.identity.profile == {"username": "ann", "email": "ann@example.com"}

    async def test_update_profile_of_an_unknown_identity_creates_it(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        newcomer = identity("newcomer", display_name="Bob", profile={"phone": "+15550199"})

        await store.dialogs.update_profile(newcomer)

        assert await store.dialogs.open_of(newcomer, LINE) is None
        receipt = await ingest(store, inbound(clock, "newcomer"))
        assert receipt.dialog is not None
        assert receipt.dialog.identity == newcomer

    # --- apply: sending ---------------------------------------------------------------------------

    async def test_send_creates_one_delivery_per_part(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, display_name="Ann", profile={"a": "b"}))
        action = send("a long answer", author="operator:op-7", parts=3)

        deliveries = await store.dialogs.apply(receipt.dialog_id, [action])

        assert [d.message for d in deliveries] == list(action.parts)
        assert len({d.delivery_key for d in deliveries}) == 3
        assert len({d.outbox_id for d in deliveries}) == 3
        assert {d.attempt for d in deliveries} == {1}
        assert {d.author for d in deliveries} == {"operator:op-7"}
        assert {d.dialog_id for d in deliveries} == {receipt.dialog_id}
        assert len({d.message_id for d in deliveries}) == 1
        assert receipt.dialog is not None
        assert [d.recipient for d in deliveries] == [receipt.dialog.identity] * 3

    async def test_delivery_keys_are_unique_across_messages(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        one = await ingest(store, inbound(clock, "client-1"))
        two = await ingest(store, inbound(clock, "client-2"))

        keys = [
            d.delivery_key
            for receipt in (one, two, one)
            for d in await store.dialogs.apply(receipt.dialog_id, [send(parts=2), send(parts=1)])
        ]

        assert len(keys) == len(set(keys)) == 9

    async def test_send_stores_the_message_in_history(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        await clock.advance(2)

        [delivery, _] = await store.dialogs.apply(
            receipt.dialog_id, [send("on it", author="bot", parts=2)]
        )

        stored = (await store.dialogs.messages(receipt.dialog_id))[-1]
        assert stored.id == delivery.message_id
        assert stored.text == "on it"
        assert stored.author == "bot"
        assert stored.direction is Direction.OUT
        assert stored.visibility is Visibility.CLIENT
        assert same_moment(stored.created_at, clock.now())
        assert stored in await store.dialogs.identity_history(identity())

    async def test_apply_without_actions_changes_nothing(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))

        assert await store.dialogs.apply(receipt.dialog_id, []) == []
        assert await store.dialogs.get(receipt.dialog_id) == receipt.dialog

    async def test_whisper_creates_no_delivery(self, store: SqlStore, clock: VirtualClock) -> None:
        receipt = await ingest(store, inbound(clock))

        assert await store.dialogs.apply(receipt.dialog_id, [whisper()]) == []
        await clock.advance(self.delivery_lease + 1)
        assert await store.outbox.claim(now=clock.now(), lease=LEASE, limit=100) == []

    async def test_whisper_is_in_dialog_messages_only_with_internal(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, text="hi"))
        await store.dialogs.apply(receipt.dialog_id, [whisper("psst")])

        everything = await store.dialogs.messages(receipt.dialog_id, with_internal=True)
        assert [(m.text, m.visibility) for m in everything] == [
            ("hi", Visibility.CLIENT),
            ("psst", Visibility.OPERATORS),
        ]
        assert everything[1].author == "operator:op-1"
        assert everything[1].direction is Direction.OUT
        assert [m.text for m in await store.dialogs.messages(receipt.dialog_id)] == ["hi"]

    async def test_whisper_is_in_client_history_only_with_internal(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, text="hi"))
        await store.dialogs.apply(receipt.dialog_id, [whisper("psst"), send("hello")])
        assert receipt.dialog is not None
        client_id = receipt.dialog.client_id

        assert [
            m.text for m in await store.dialogs.client_history(client_id, with_internal=True)
        ] == [
            "hi",
            "psst",
            "hello",
        ]
        assert [m.text for m in await store.dialogs.client_history(client_id)] == ["hi", "hello"]

    async def test_whisper_is_never_in_identity_history(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, text="hi"))
        await store.dialogs.apply(receipt.dialog_id, [whisper("psst"), send("hello")])

        assert [m.text for m in await store.dialogs.identity_history(identity())] == ["hi", "hello"]

    async def test_identity_history_holds_only_that_identitys_dialogs(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await ingest(store, inbound(clock, "ann", text="from ann"))
        await ingest(store, inbound(clock, "bob", text="from bob"))

        assert [m.text for m in await store.dialogs.identity_history(identity("ann"))] == [
            "from ann"
        ]

    async def test_histories_page_by_after_id_and_limit(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = [await ingest(store, inbound(clock, text=f"m{n}")) for n in range(5)]
        dialog_id = receipts[0].dialog_id
        assert receipts[0].dialog is not None
        client_id = receipts[0].dialog.client_id
        ids = [r.message_id for r in receipts]

        assert [m.id for m in await store.dialogs.messages(dialog_id, limit=2)] == ids[:2]
        assert [m.id for m in await store.dialogs.messages(dialog_id, after_id=ids[1])] == ids[2:]
        assert [
            m.id for m in await store.dialogs.messages(dialog_id, after_id=ids[1], limit=2)
        ] == ids[2:4]
        assert [
            m.id for m in await store.dialogs.client_history(client_id, after_id=ids[3])
        ] == ids[4:]
        assert [m.id for m in await store.dialogs.identity_history(identity(), limit=3)] == ids[:3]
        assert [
            m.id for m in await store.dialogs.identity_history(identity(), after_id=ids[2])
        ] == ids[3:]

    # --- apply: the dialog log --------------------------------------------------------------------

    async def test_every_dialog_event_kind_round_trips(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        before = await store.dialogs.events(receipt.dialog_id)
        events = every_dialog_event(clock.now())
        assert {e.kind for e in events} == dialog_event_kinds()

        await store.dialogs.apply(receipt.dialog_id, [LogAction(event=e) for e in events])

        assert await store.dialogs.events(receipt.dialog_id) == before + events

    async def test_dialog_events_keep_their_order_across_units(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        before = await store.dialogs.events(receipt.dialog_id)
        logged: list[DialogEvent] = []
        for operator in ("op-1", "op-2", "op-3"):
            await clock.advance(1)
            event = Skipped(at=clock.now(), actor=f"operator:{operator}", operator_id=operator)
            logged.append(event)
            await store.dialogs.apply(receipt.dialog_id, [LogAction(event=event)])

        assert await store.dialogs.events(receipt.dialog_id) == before + logged

    async def test_dialog_events_belong_to_their_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        ann = await ingest(store, inbound(clock, "ann"))
        bob = await ingest(store, inbound(clock, "bob"))
        bob_before = await store.dialogs.events(bob.dialog_id)

        await store.dialogs.apply(ann.dialog_id, [LogAction(event=Pinned(at=clock.now()))])

        assert await store.dialogs.events(bob.dialog_id) == bob_before
        assert (await store.dialogs.events(ann.dialog_id))[-1] == Pinned(at=clock.now())

    # --- apply: status, guards, errors ------------------------------------------------------------

    async def test_status_action_moves_the_dialog_and_sets_the_operator(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock), status=QUEUED)
        await store.operators.save("op-1", "Olga")

        await store.dialogs.apply(receipt.dialog_id, [move(QUEUED, ACTIVE, operator_id="op-1")])

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.status is ACTIVE
        assert dialog.operator_id == "op-1"
        assert dialog.closed_at is None
        operator = await store.operators.get("op-1")
        assert operator is not None and operator.load == 1

    async def test_the_feed_gives_what_happened_after_the_cursor_once(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, "u1"))
        page = await store.feed.read(FeedCursor())
        assert [m.id for m in page.messages] == [first.message_id]
        assert [(e.dialog_id, e.event.kind) for e in page.events] == [(first.dialog_id, "opened")]
        second = await ingest(store, inbound(clock, "u2", "again"))

        after = await store.feed.read(page.cursor)

        assert [m.text for m in after.messages] == ["again"]
        assert [e.dialog_id for e in after.events] == [second.dialog_id]
        assert (await store.feed.read(after.cursor)).messages == ()
        assert (await store.feed.read(after.cursor)).cursor == after.cursor
        assert await store.feed.end() == after.cursor

    async def test_plugin_state_is_kept_per_owner_and_key(self, store: SqlStore) -> None:
        assert await store.state.load("desk:telegram", "offset") is None
        await store.state.save("desk:telegram", "offset", "41")
        await store.state.save("desk:telegram", "offset", "42")
        await store.state.save("channel:vk/main", "offset", "7")
        assert await store.state.load("desk:telegram", "offset") == "42"
        assert await store.state.load("channel:vk/main", "offset") == "7"

    async def test_an_operator_at_capacity_takes_no_more_dialogs(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.operators.save("op-1", "Olga", capacity=1)
        first = await ingest(store, inbound(clock, "u1"), status=QUEUED)
        second = await ingest(store, inbound(clock, "u2"), status=QUEUED)
        await store.dialogs.apply(first.dialog_id, [move(QUEUED, ACTIVE, operator_id="op-1")])

        with pytest.raises(OperatorBusy):
            await store.dialogs.apply(second.dialog_id, [move(QUEUED, ACTIVE, operator_id="op-1")])

        unchanged = await store.dialogs.get(second.dialog_id)
        assert unchanged is not None and unchanged.status is QUEUED
        await store.dialogs.apply(first.dialog_id, [move(ACTIVE, CLOSED, operator_id="op-1")])
        await store.dialogs.apply(second.dialog_id, [move(QUEUED, ACTIVE, operator_id="op-1")])
        assert await store.operators.held_counts() == {"op-1": 1}
        operator = await store.operators.get("op-1")
        assert operator is not None and operator.load == 1

    async def test_closing_sets_closed_at(self, store: SqlStore, clock: VirtualClock) -> None:
        receipt = await ingest(store, inbound(clock))
        await clock.advance(600)

        await store.dialogs.apply(receipt.dialog_id, [move(BOT, CLOSED)])

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.status is CLOSED
        assert same_moment(dialog.closed_at, clock.now())
        assert receipt.dialog is not None
        assert dialog.opened_at == receipt.dialog.opened_at

    async def test_wrong_expected_status_raises_conflict(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))

        with pytest.raises(DialogConflict):
            await store.dialogs.apply(receipt.dialog_id, [move(ACTIVE, CLOSED)])

        assert await store.dialogs.get(receipt.dialog_id) == receipt.dialog

    async def test_a_conflict_rolls_back_the_whole_unit(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, text="hi"))
        assert receipt.dialog is not None
        events_before = await store.dialogs.events(receipt.dialog_id)
        buttons = ((Button(text="Yes", payload="yes"),),)
        actions: list[DialogAction] = [
            send("degraded", buttons=buttons),
            whisper(),
            LogAction(event=HandedOff(at=clock.now(), actor="bot")),
            move(BOT, QUEUED),
            move(ACTIVE, CLOSED),  # fails: the dialog is queued by now
        ]

        with pytest.raises(DialogConflict):
            await store.dialogs.apply(receipt.dialog_id, actions, inbox_id=receipt.inbox_id)

        assert await store.dialogs.get(receipt.dialog_id) == receipt.dialog
        assert [
            m.text for m in await store.dialogs.messages(receipt.dialog_id, with_internal=True)
        ] == ["hi"]
        assert await store.dialogs.events(receipt.dialog_id) == events_before
        [pending] = await store.inbox.pending(before=later(clock, 1))
        assert pending.receipt.inbox_id == receipt.inbox_id
        await clock.advance(self.delivery_lease + 1)
        assert await store.outbox.claim(now=clock.now(), lease=LEASE, limit=100) == []

    async def test_guard_mismatch_raises_conflict_and_stores_nothing(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, text="hi"))
        events_before = await store.dialogs.events(receipt.dialog_id)
        actions: list[DialogAction] = [
            send("too late"),
            LogAction(event=Queued(at=clock.now())),
            move(BOT, QUEUED),
        ]

        with pytest.raises(DialogConflict):
            await store.dialogs.apply(
                receipt.dialog_id, actions, inbox_id=receipt.inbox_id, guard=ACTIVE
            )

        assert await store.dialogs.get(receipt.dialog_id) == receipt.dialog
        assert [
            m.text for m in await store.dialogs.messages(receipt.dialog_id, with_internal=True)
        ] == ["hi"]
        assert await store.dialogs.events(receipt.dialog_id) == events_before
        assert len(await store.inbox.pending(before=later(clock, 1))) == 1
        await clock.advance(self.delivery_lease + 1)
        assert await store.outbox.claim(now=clock.now(), lease=LEASE, limit=100) == []

    async def test_matching_guard_applies(self, store: SqlStore, clock: VirtualClock) -> None:
        receipt = await ingest(store, inbound(clock))

        deliveries = await store.dialogs.apply(
            receipt.dialog_id, [send(), move(BOT, QUEUED)], guard=BOT
        )

        assert len(deliveries) == 1
        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.status is QUEUED

    async def test_apply_on_a_missing_dialog_raises_dialog_error(self, store: SqlStore) -> None:
        with pytest.raises(DialogError) as raised:
            await store.dialogs.apply(987654, [send()])

        assert not isinstance(raised.value, DialogConflict)

    async def test_apply_with_the_known_dialog_sends_to_its_identity(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock, "ann", display_name="Ann"))
        assert receipt.dialog is not None

        [delivery] = await store.dialogs.apply(receipt.dialog_id, [send()], known=receipt.dialog)

        assert delivery.recipient == receipt.dialog.identity
        [claimed] = await store.outbox.claim(
            now=later(clock, self.delivery_lease + 1), lease=60, limit=10
        )
        assert claimed.recipient == receipt.dialog.identity

    async def test_apply_with_the_known_dialog_still_guards_its_status(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        assert receipt.dialog is not None
        await store.dialogs.apply(receipt.dialog_id, [move(BOT, QUEUED)])

        with pytest.raises(DialogConflict):
            await store.dialogs.apply(receipt.dialog_id, [send()], guard=BOT, known=receipt.dialog)

        texts = [m.text for m in await store.dialogs.messages(receipt.dialog_id)]
        assert texts == ["hello"]

    async def test_apply_with_a_known_dialog_refuses_one_that_moved_in_the_same_status(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        assert receipt.dialog is not None
        await store.dialogs.apply(receipt.dialog_id, [FieldsAction(line_id=OTHER_LINE)])

        with pytest.raises(DialogConflict):
            await store.dialogs.apply(receipt.dialog_id, [send()], guard=BOT, known=receipt.dialog)

        texts = [m.text for m in await store.dialogs.messages(receipt.dialog_id)]
        assert texts == ["hello"]

    async def test_apply_refuses_a_known_dialog_of_another_id(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, "ann"))
        second = await ingest(store, inbound(clock, "bob"))
        assert first.dialog is not None

        with pytest.raises(DialogError):
            await store.dialogs.apply(second.dialog_id, [send()], known=first.dialog)

        assert [m.text for m in await store.dialogs.messages(second.dialog_id)] == ["hello"]

    # --- pending inbound events -------------------------------------------------------------------

    async def test_ingested_event_is_pending_until_applied(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        event = inbound(
            clock,
            message=InboundMessage(text="hi", reply_to="tg-99"),
            display_name="Ann",
            profile={"username": "ann"},
            raw={"update_id": 42, "message": {"text": "hi", "entities": [1, 2.5, None, True]}},
        )
        event = event.model_copy(update={"platform_message_id": "tg-100"})
        receipt = await ingest(store, event, line_id=OTHER_LINE)

        [pending] = await store.inbox.pending(before=later(clock, 1))

        assert pending.event == event
        assert pending.line_id == OTHER_LINE
        assert not pending.receipt.duplicate
        assert pending.receipt.inbox_id == receipt.inbox_id
        assert pending.receipt.dialog_id == receipt.dialog_id
        assert pending.receipt.message_id == receipt.message_id

    async def test_pending_inbound_is_ordered_by_arrival(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = []
        for client in ("c", "a", "b"):
            receipts.append(await ingest(store, inbound(clock, client)))
            await clock.advance(1)

        pending = await store.inbox.pending(before=clock.now())

        assert [p.receipt.inbox_id for p in pending] == [r.inbox_id for r in receipts]
        assert [p.event.identity.external_id for p in pending] == ["c", "a", "b"]

    async def test_pending_inbound_leaves_out_events_received_after_before(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        early = await ingest(store, inbound(clock, text="early"))
        cutoff = later(clock, 5)
        await clock.advance(10)
        await ingest(store, inbound(clock, text="late"))

        [pending] = await store.inbox.pending(before=cutoff)

        assert pending.receipt.inbox_id == early.inbox_id
        assert len(await store.inbox.pending(before=later(clock, 1))) == 2

    async def test_pending_inbound_respects_limit(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = [await ingest(store, inbound(clock, f"c{n}")) for n in range(4)]

        pending = await store.inbox.pending(before=later(clock, 1), limit=2)

        assert [p.receipt.inbox_id for p in pending] == [r.inbox_id for r in receipts[:2]]

    async def test_pending_inbound_reads_on_after_a_cursor(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = [await ingest(store, inbound(clock, f"c{n}")) for n in range(7)]
        before = later(clock, 1)

        seen: list[int] = []
        after_id = 0
        while page := await store.inbox.pending(before=before, after_id=after_id, limit=3):
            seen += [p.receipt.inbox_id for p in page]
            after_id = page[-1].receipt.inbox_id

        # Nothing was applied, so every event stays pending: the cursor alone moves the reader on.
        assert seen == [r.inbox_id for r in receipts]

    async def test_applied_event_is_no_longer_pending(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))

        await store.dialogs.apply(receipt.dialog_id, [send()], inbox_id=receipt.inbox_id)

        assert await store.inbox.pending(before=later(clock, 1)) == []

    async def test_event_applied_with_an_error_is_no_longer_pending(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))

        await store.dialogs.apply(
            receipt.dialog_id, [], inbox_id=receipt.inbox_id, inbox_error="boom"
        )

        assert await store.inbox.pending(before=later(clock, 1)) == []

    async def test_an_event_applied_in_turn_waits_for_an_earlier_event_of_its_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, text="one"))
        second = await ingest(store, inbound(clock, text="two"))
        assert first.dialog_id == second.dialog_id

        with pytest.raises(OutOfTurn) as waiting:
            await store.dialogs.apply(
                second.dialog_id, [send("to two")], inbox_id=second.inbox_id, in_turn=True
            )

        assert waiting.value.earlier_id == first.inbox_id
        assert await store.inbox.earlier_pending(second.dialog_id, second.inbox_id) == (
            first.inbox_id
        )
        assert [p.receipt.inbox_id for p in await store.inbox.pending(before=later(clock, 1))] == [
            first.inbox_id,
            second.inbox_id,
        ]
        [taken] = await store.inbox.pending_of_dialog(first.dialog_id, before_id=second.inbox_id)
        assert (taken.receipt.inbox_id, taken.event.message.text) == (first.inbox_id, "one")
        await store.dialogs.apply(
            first.dialog_id, [send("to one")], inbox_id=first.inbox_id, in_turn=True
        )
        assert await store.inbox.earlier_pending(second.dialog_id, second.inbox_id) is None
        await store.dialogs.apply(
            second.dialog_id, [send("to two")], inbox_id=second.inbox_id, in_turn=True
        )
        texts = [m.text for m in await store.dialogs.messages(first.dialog_id)]
        assert texts == ["one", "two", "to one", "to two"]
        assert await store.inbox.pending(before=later(clock, 1)) == []

    async def test_in_turn_waits_for_no_event_of_another_dialog_nor_a_later_one(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await ingest(store, inbound(clock, "ann"))
        first = await ingest(store, inbound(clock, "bob", text="one"))
        await ingest(store, inbound(clock, "bob", text="two"))

        await store.dialogs.apply(first.dialog_id, [send()], inbox_id=first.inbox_id, in_turn=True)

        assert len(await store.inbox.pending(before=later(clock, 1))) == 2
        assert await store.inbox.pending_of_dialog(first.dialog_id, before_id=first.inbox_id) == []

    async def test_an_event_already_processed_is_not_applied_again_in_turn_or_not(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        first = await ingest(store, inbound(clock, text="one"))
        second = await ingest(store, inbound(clock, text="two"))
        await store.dialogs.apply(first.dialog_id, [send("once")], inbox_id=first.inbox_id)

        for in_turn in (True, False):
            assert (
                await store.dialogs.apply(
                    first.dialog_id, [send("twice")], inbox_id=first.inbox_id, in_turn=in_turn
                )
                == []
            )

        texts = [m.text for m in await store.dialogs.messages(second.dialog_id)]
        assert texts == ["one", "two", "once"]

    async def test_failed_inbound_event_is_no_longer_pending(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        failed = await ingest(store, inbound(clock, "ann"))
        kept = await ingest(store, inbound(clock, "bob"))

        await store.inbox.fail(failed.inbox_id, "handler crashed")

        [pending] = await store.inbox.pending(before=later(clock, 1))
        assert pending.receipt.inbox_id == kept.inbox_id

    # --- degraded buttons -------------------------------------------------------------------------

    async def test_buttons_sent_as_text_become_pending_buttons(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        buttons = ((Button(text="Yes", payload="yes"), Button(text="No", payload="no")),)

        await store.dialogs.apply(
            receipt.dialog_id,
            [send("Sure?", buttons=buttons, parts=[OutboundMessage(text="Sure?\n1. Yes\n2. No")])],
        )

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.pending_buttons == buttons

    async def test_buttons_the_channel_shows_are_not_pending(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        buttons = ((Button(text="Yes", payload="yes"),),)
        message = OutboundMessage(text="Sure?", buttons=buttons)

        await store.dialogs.apply(
            receipt.dialog_id, [SendAction(author="bot", message=message, parts=(message,))]
        )

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.pending_buttons == ()

    async def test_a_later_message_without_buttons_clears_pending_buttons(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        buttons = ((Button(text="Yes", payload="yes"),),)
        await store.dialogs.apply(receipt.dialog_id, [send("Sure?", buttons=buttons)])

        await store.dialogs.apply(receipt.dialog_id, [send("Never mind")])

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.pending_buttons == ()

    async def test_a_whisper_leaves_pending_buttons_alone(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        buttons = ((Button(text="Yes", payload="yes"),),)
        await store.dialogs.apply(receipt.dialog_id, [send("Sure?", buttons=buttons)])

        await store.dialogs.apply(receipt.dialog_id, [whisper()])

        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.pending_buttons == buttons

    # --- outbox -----------------------------------------------------------------------------------

    async def _deliveries(
        self, store: SqlStore, clock: VirtualClock, parts: int = 1, external_id: str = "client-1"
    ) -> list[Delivery]:
        receipt = await ingest(store, inbound(clock, external_id))
        return await store.dialogs.apply(receipt.dialog_id, [send(parts=parts)])

    async def _claim(
        self, store: SqlStore, clock: VirtualClock, limit: int = 100
    ) -> list[Delivery]:
        return await store.outbox.claim(now=clock.now(), lease=LEASE, limit=limit)

    async def test_deliveries_from_apply_are_leased(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await self._deliveries(store, clock)

        assert await self._claim(store, clock) == []
        await clock.advance(self.delivery_lease - 1)
        assert await self._claim(store, clock) == []

    async def test_delivery_is_claimed_again_after_its_lease(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        [delivery] = await self._deliveries(store, clock)
        await clock.advance(self.delivery_lease + 1)

        [again] = await self._claim(store, clock)

        assert again == delivery.model_copy(update={"attempt": 2})

    async def test_claimed_delivery_is_leased_for_the_lease_asked(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        [delivery] = await self._deliveries(store, clock)
        await clock.advance(self.delivery_lease + 1)
        await self._claim(store, clock)

        await clock.advance(LEASE - 1)
        assert await self._claim(store, clock) == []
        await clock.advance(2)
        [third] = await self._claim(store, clock)
        assert third.outbox_id == delivery.outbox_id
        assert third.attempt == 3

    async def test_sent_delivery_reports_sent_and_is_never_claimed_again(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        [delivery] = await self._deliveries(store, clock)

        await store.outbox.finish(
            [OutboxResult(outbox_id=delivery.outbox_id, outcome="sent", platform_message_id="p-7")]
        )

        status = await store.outbox.status(delivery.outbox_id)
        assert status is not None
        assert status.outbox_id == delivery.outbox_id
        assert status.outcome == "sent"
        assert status.platform_message_id == "p-7"
        await clock.advance(86400)
        assert await self._claim(store, clock) == []

    async def test_retry_is_not_claimed_before_its_next_attempt(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        [delivery] = await self._deliveries(store, clock)
        next_attempt = later(clock, 120)

        await store.outbox.finish(
            [
                OutboxResult(
                    outbox_id=delivery.outbox_id,
                    outcome="retry",
                    error="429 too many requests",
                    next_attempt_at=next_attempt,
                )
            ]
        )

        status = await store.outbox.status(delivery.outbox_id)
        assert status is not None
        assert status.outcome == "retry"
        assert status.error == "429 too many requests"
        assert same_moment(status.next_attempt_at, next_attempt)
        await clock.advance(119)
        assert await self._claim(store, clock) == []
        await clock.advance(2)
        [again] = await self._claim(store, clock)
        assert again.outbox_id == delivery.outbox_id
        assert again.attempt == 2

    async def test_failed_delivery_reports_its_error_and_is_never_claimed_again(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        [delivery] = await self._deliveries(store, clock)

        await store.outbox.finish(
            [
                OutboxResult(
                    outbox_id=delivery.outbox_id, outcome="failed", error="bot blocked by user"
                )
            ]
        )

        status = await store.outbox.status(delivery.outbox_id)
        assert status is not None
        assert status.outcome == "failed"
        assert status.error == "bot blocked by user"
        await clock.advance(86400)
        assert await self._claim(store, clock) == []

    async def test_finish_outbox_settles_each_result(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        sent, retried, failed = await self._deliveries(store, clock, parts=3)

        await store.outbox.finish(
            [
                OutboxResult(outbox_id=sent.outbox_id, outcome="sent", platform_message_id="1"),
                OutboxResult(
                    outbox_id=retried.outbox_id, outcome="retry", next_attempt_at=later(clock, 5)
                ),
                OutboxResult(outbox_id=failed.outbox_id, outcome="failed", error="too big"),
            ]
        )

        outcomes = [await store.outbox.status(d.outbox_id) for d in (sent, retried, failed)]
        assert [o.outcome if o else None for o in outcomes] == ["sent", "retry", "failed"]
        await clock.advance(10)
        assert [d.outbox_id for d in await self._claim(store, clock)] == [retried.outbox_id]

    async def test_outbox_status_of_an_unknown_delivery_is_none(self, store: SqlStore) -> None:
        assert await store.outbox.status(987654) is None

    async def test_claim_returns_the_oldest_first_within_limit(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        created: list[Delivery] = []
        for n in range(5):
            created += await self._deliveries(store, clock, external_id=f"client-{n}")
            await clock.advance(1)
        await clock.advance(self.delivery_lease)

        first = await self._claim(store, clock, limit=2)
        rest = await self._claim(store, clock, limit=10)

        assert [d.outbox_id for d in first] == [d.outbox_id for d in created[:2]]
        assert [d.outbox_id for d in rest] == [d.outbox_id for d in created[2:]]

    async def test_claimed_delivery_names_its_recipient(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        ann = await ingest(store, inbound(clock, "ann", display_name="Ann", profile={"x": "1"}))
        bob = await ingest(store, inbound(clock, "bob", channel=VIBER, display_name="Bob"))
        for receipt in (ann, bob):
            await store.dialogs.apply(receipt.dialog_id, [send()])
        await clock.advance(self.delivery_lease + 1)

        claimed = {d.dialog_id: d.recipient for d in await self._claim(store, clock)}

        assert ann.dialog is not None
        assert bob.dialog is not None
        assert claimed == {ann.dialog_id: ann.dialog.identity, bob.dialog_id: bob.dialog.identity}

    # --- timers -----------------------------------------------------------------------------------

    async def _timers(self, store: SqlStore, clock: VirtualClock, limit: int = 100) -> list[Timer]:
        return await store.timers.claim(now=clock.now(), lease=LEASE, limit=limit)

    async def test_timer_is_not_claimed_before_it_is_due(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", later(clock, 60))

        assert await self._timers(store, clock) == []
        await clock.advance(59)
        assert await self._timers(store, clock) == []

    async def test_timer_is_claimed_once_due(self, store: SqlStore, clock: VirtualClock) -> None:
        due = later(clock, 60)
        await store.timers.schedule("auto_close", "d1", due)
        await clock.advance(60)

        [timer] = await self._timers(store, clock)

        assert (timer.kind, timer.key) == ("auto_close", "d1")
        assert same_moment(timer.due_at, due)
        assert timer.dialog_id is None
        assert timer.data is None

    async def test_overdue_timer_is_claimed(self, store: SqlStore, clock: VirtualClock) -> None:
        await store.timers.schedule("auto_close", "d1", later(clock, 60))
        await clock.advance(86400)

        assert [t.key for t in await self._timers(store, clock)] == ["d1"]

    async def test_claimed_timer_is_not_claimed_again_while_leased(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        assert len(await self._timers(store, clock)) == 1

        assert await self._timers(store, clock) == []
        await clock.advance(LEASE - 1)
        assert await self._timers(store, clock) == []

    async def test_unfinished_timer_is_claimed_again_after_its_lease(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        [first] = await self._timers(store, clock)

        await clock.advance(LEASE + 1)

        [again] = await self._timers(store, clock)
        assert again == first

    async def test_finished_timer_is_never_claimed_again(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        [timer] = await self._timers(store, clock)

        await store.timers.finish(timer.id)

        await clock.advance(86400)
        assert await self._timers(store, clock) == []

    async def test_scheduling_again_moves_the_timer(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", later(clock, 60), data={"v": 1})
        await store.timers.schedule("auto_close", "d1", later(clock, 120), data={"v": 2})

        await clock.advance(90)
        assert await self._timers(store, clock) == []
        await clock.advance(30)
        [timer] = await self._timers(store, clock)
        assert timer.data == {"v": 2}
        assert same_moment(timer.due_at, clock.now())

    async def test_scheduling_again_can_move_a_timer_earlier(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", later(clock, 600))
        await store.timers.schedule("auto_close", "d1", later(clock, 10))

        await clock.advance(10)
        assert [t.key for t in await self._timers(store, clock)] == ["d1"]

    async def test_scheduling_again_rearms_a_finished_timer(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        [timer] = await self._timers(store, clock)
        await store.timers.finish(timer.id)

        await store.timers.schedule("auto_close", "d1", later(clock, 60))

        assert await self._timers(store, clock) == []
        await clock.advance(60)
        assert [t.key for t in await self._timers(store, clock)] == ["d1"]

    async def test_moved_timer_survives_finishing_its_earlier_claim(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        [claimed] = await self._timers(store, clock)

        await store.timers.schedule("auto_close", "d1", later(clock, 60))
        await store.timers.finish(claimed.id)

        await clock.advance(60)
        [timer] = await self._timers(store, clock)
        assert same_moment(timer.due_at, clock.now())

    async def test_cancelled_timer_is_never_claimed(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", later(clock, 60))
        await store.timers.schedule("auto_close", "d2", later(clock, 60))

        await store.timers.cancel("auto_close", "d1")

        await clock.advance(86400)
        assert [t.key for t in await self._timers(store, clock)] == ["d2"]

    async def test_cancelling_a_claimed_timer_stops_it_firing_again(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "d1", clock.now())
        assert len(await self._timers(store, clock)) == 1

        await store.timers.cancel("auto_close", "d1")

        await clock.advance(LEASE + 1)
        assert await self._timers(store, clock) == []

    async def test_a_fired_timer_rearmed_by_apply_fires_again_at_its_own_time(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        key = str(receipt.dialog_id)
        due = later(clock, 60)
        await store.timers.schedule("auto_close", key, due, dialog_id=receipt.dialog_id)
        await clock.advance(120)
        [fired] = await self._timers(store, clock)
        await store.timers.finish(fired.id)

        rearm = TimerAction(kind="auto_close", key=key, due_at=None, rearm=True)
        await store.dialogs.apply(receipt.dialog_id, [rearm])

        [again] = await self._timers(store, clock)
        assert (again.key, again.dialog_id) == (key, receipt.dialog_id)
        assert same_moment(again.due_at, due)

    async def test_rearming_a_waiting_timer_leaves_its_time(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        key = str(receipt.dialog_id)
        await store.timers.schedule("auto_close", key, later(clock, 60))

        rearm = TimerAction(kind="auto_close", key=key, due_at=None, rearm=True)
        await store.dialogs.apply(receipt.dialog_id, [rearm])
        await store.dialogs.apply(receipt.dialog_id, [rearm.model_copy(update={"key": "none"})])

        assert await self._timers(store, clock) == []
        await clock.advance(60)
        assert [t.key for t in await self._timers(store, clock)] == [key]

    async def test_cancelling_an_unknown_timer_does_nothing(self, store: SqlStore) -> None:
        await store.timers.cancel("auto_close", "never-set")

    async def test_timer_data_and_dialog_round_trip(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        data: JsonValue = {
            "operator_ids": ["op-1", "op-2"],
            "hop": 3,
            "ratio": 0.25,
            "final": False,
            "note": "«ünïcödé» ✨",
            "nested": {"empty": [], "none": None},
        }

        await store.timers.schedule(
            "offer_timeout",
            str(receipt.dialog_id),
            clock.now(),
            dialog_id=receipt.dialog_id,
            data=data,
        )

        [timer] = await self._timers(store, clock)
        assert timer.dialog_id == receipt.dialog_id
        assert timer.data == data

    async def test_timers_of_other_kinds_with_the_same_key_are_distinct(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.timers.schedule("auto_close", "7", clock.now(), data="close")
        await store.timers.schedule("offer_timeout", "7", clock.now(), data="offer")

        timers = await self._timers(store, clock)

        assert sorted((t.kind, t.data) for t in timers) == [
            ("auto_close", "close"),
            ("offer_timeout", "offer"),
        ]
        assert len({t.id for t in timers}) == 2

    async def test_timers_are_claimed_by_due_time_within_limit(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        for key, seconds in (("c", 30), ("a", 10), ("e", 50), ("b", 20), ("d", 40)):
            await store.timers.schedule("auto_close", key, later(clock, seconds))
        await clock.advance(60)

        first = await self._timers(store, clock, limit=3)
        rest = await self._timers(store, clock, limit=10)

        assert [t.key for t in first] == ["a", "b", "c"]
        assert [t.key for t in rest] == ["d", "e"]

    # --- concurrency ------------------------------------------------------------------------------

    async def test_concurrent_messages_from_one_identity_share_one_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        events = [inbound(clock, text=f"m{n}") for n in range(50)]

        receipts = await asyncio.gather(*(ingest(store, e) for e in events))

        assert not any(r.duplicate for r in receipts)
        [dialog_id] = {r.dialog_id for r in receipts}
        open_dialog = await store.dialogs.open_of(identity(), LINE)
        assert open_dialog is not None
        assert open_dialog.id == dialog_id
        stored = await store.dialogs.messages(dialog_id, limit=1000)
        assert len(stored) == 50
        assert {m.id for m in stored} == {r.message_id for r in receipts}
        assert sorted(m.text or "" for m in stored) == sorted(e.message.text or "" for e in events)

    async def test_concurrent_messages_from_many_identities_open_one_dialog_each(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        events = [inbound(clock, f"client-{n % 50}") for n in range(200)]

        receipts = await asyncio.gather(*(ingest(store, e) for e in events))

        dialog_of: dict[str, set[int]] = {}
        for event, receipt in zip(events, receipts, strict=True):
            dialog_of.setdefault(event.identity.external_id, set()).add(receipt.dialog_id)
        assert all(len(ids) == 1 for ids in dialog_of.values())
        dialog_ids = {r.dialog_id for r in receipts}
        assert len(dialog_ids) == 50
        clients = {r.dialog.client_id for r in receipts if r.dialog is not None}
        assert len(clients) == 50
        for dialog_id in dialog_ids:
            assert len(await store.dialogs.messages(dialog_id)) == 4

    async def test_concurrent_redeliveries_store_the_event_once(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        event = inbound(clock)

        receipts = await asyncio.gather(*(ingest(store, event) for _ in range(20)))

        assert sum(not r.duplicate for r in receipts) == 1
        assert len({(r.inbox_id, r.dialog_id, r.message_id) for r in receipts}) == 1
        assert len(await store.dialogs.messages(receipts[0].dialog_id)) == 1
        assert len(await store.inbox.pending(before=later(clock, 1))) == 1

    async def test_concurrent_claims_never_hand_out_a_delivery_twice(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        created = await self._deliveries(store, clock, parts=10)
        await clock.advance(self.delivery_lease + 1)

        batches = await asyncio.gather(*(self._claim(store, clock, limit=3) for _ in range(4)))
        claimed = [d.outbox_id for batch in batches for d in batch]
        claimed += [d.outbox_id for d in await self._claim(store, clock)]

        assert sorted(claimed) == sorted(d.outbox_id for d in created)

    async def test_concurrent_claims_never_hand_out_a_timer_twice(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        for n in range(10):
            await store.timers.schedule("auto_close", f"d{n}", clock.now())

        batches = await asyncio.gather(*(self._timers(store, clock, limit=3) for _ in range(4)))
        claimed = [t.key for batch in batches for t in batch]
        claimed += [t.key for t in await self._timers(store, clock)]

        assert sorted(claimed) == sorted(f"d{n}" for n in range(10))

    async def test_a_failing_unit_does_not_undo_concurrent_units(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        ann = await ingest(store, inbound(clock, "ann"))
        bob = await ingest(store, inbound(clock, "bob", text="hi"))

        results = await asyncio.gather(
            store.dialogs.apply(ann.dialog_id, [send("lost"), move(ACTIVE, CLOSED)]),
            store.dialogs.apply(bob.dialog_id, [send("kept"), move(BOT, QUEUED)]),
            ingest(store, inbound(clock, "carol", text="also kept")),
            return_exceptions=True,
        )

        assert isinstance(results[0], DialogConflict)
        assert not isinstance(results[1], BaseException)
        assert not isinstance(results[2], BaseException)
        assert [m.text for m in await store.dialogs.messages(bob.dialog_id)] == ["hi", "kept"]
        assert [m.text for m in await store.dialogs.identity_history(identity("carol"))] == [
            "also kept"
        ]
        assert [m.text for m in await store.dialogs.messages(ann.dialog_id)] == ["hello"]
        dialog = await store.dialogs.get(bob.dialog_id)
        assert dialog is not None
        assert dialog.status is QUEUED

    # --- operators and queues ---------------------------------------------------------------------

    async def _staff(self, store: SqlStore, *operator_ids: str, line_id: str = LINE) -> None:
        """Operators in the line's queue in this order, online and working."""
        for operator_id in operator_ids:
            await store.operators.save(operator_id, operator_id.title())
            await store.operators.update(operator_id, presence=ONLINE, shift=WORKING)
        await store.operators.set_queue(line_id, operator_ids)

    async def test_all_operators_are_listed_by_id(self, store: SqlStore) -> None:
        await store.operators.save("op-2", "Boris", capacity=3)
        await store.operators.save("op-1", "Olga")

        found = await store.operators.all()

        assert [(o.id, o.name, o.capacity) for o in found] == [
            ("op-1", "Olga", None),
            ("op-2", "Boris", 3),
        ]
        assert all(o.presence is OFFLINE and o.shift is NOT_STARTED for o in found)

    async def test_updating_an_operator_changes_only_what_is_given(self, store: SqlStore) -> None:
        await store.operators.save("op-1", "Olga", capacity=2)

        online = await store.operators.update("op-1", presence=ONLINE)
        working = await store.operators.update("op-1", shift=WORKING)
        default = await store.operators.update("op-1", capacity=None)

        assert (online.presence, online.shift, online.capacity) == (ONLINE, NOT_STARTED, 2)
        assert (working.presence, working.shift, working.capacity) == (ONLINE, WORKING, 2)
        assert (default.presence, default.shift, default.capacity) == (ONLINE, WORKING, None)
        assert await store.operators.get("op-1") == default

    async def test_updating_an_unknown_operator_or_to_no_capacity_is_refused(
        self, store: SqlStore
    ) -> None:
        await store.operators.save("op-1", "Olga", capacity=2)

        with pytest.raises(OmnilineError):
            await store.operators.update("nobody", presence=ONLINE)
        with pytest.raises(OmnilineError):
            await store.operators.update("op-1", capacity=0)

        operator = await store.operators.get("op-1")
        assert operator is not None and operator.capacity == 2

    async def test_a_queue_is_exactly_the_operators_given_in_order(self, store: SqlStore) -> None:
        for operator_id in ("op-1", "op-2", "op-3"):
            await store.operators.save(operator_id, operator_id)

        await store.operators.set_queue(LINE, ["op-3", "op-1", "op-2"])
        assert await store.operators.queue(LINE) == ["op-3", "op-1", "op-2"]
        await store.operators.set_queue(LINE, ["op-2", "op-3"])
        assert await store.operators.queue(LINE) == ["op-2", "op-3"]
        assert await store.operators.queue(OTHER_LINE) == []

    async def test_a_queue_with_an_unknown_operator_is_refused_whole(self, store: SqlStore) -> None:
        await store.operators.save("op-1", "Olga")
        await store.operators.set_queue(LINE, ["op-1"])

        with pytest.raises(OmnilineError):
            await store.operators.set_queue(LINE, ["nobody", "op-1"])

        assert await store.operators.queue(LINE) == ["op-1"]

    async def test_lines_of_an_operator_are_the_queues_they_are_in(self, store: SqlStore) -> None:
        await store.operators.save("op-1", "Olga")
        await store.operators.save("op-2", "Boris")
        await store.operators.set_queue(OTHER_LINE, ["op-1"])
        await store.operators.set_queue(LINE, ["op-2", "op-1"])

        assert await store.operators.lines_of("op-1") == sorted([LINE, OTHER_LINE])
        assert await store.operators.lines_of("op-2") == [LINE]
        assert await store.operators.lines_of("nobody") == []

    async def test_waiting_dialogs_of_a_line_come_oldest_first(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipts = [await ingest(store, inbound(clock, f"u{n}"), status=QUEUED) for n in range(4)]
        for receipt, route in zip(receipts, ["waiting", "", "parked", "waiting"], strict=True):
            await store.dialogs.apply(receipt.dialog_id, [FieldsAction(route=route)])

        waiting = [receipts[0].dialog_id, receipts[2].dialog_id, receipts[3].dialog_id]
        assert await store.operators.waiting_dialogs(LINE) == waiting
        assert await store.operators.waiting_dialogs(LINE, limit=2) == waiting[:2]
        assert await store.operators.waiting_dialogs(OTHER_LINE) == []

    async def test_a_dialog_offered_to_all_is_offered_to_every_available_operator(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await self._staff(store, "op-2", "op-1", "op-3")
        await store.operators.update("op-3", presence=OFFLINE)
        receipt = await ingest(store, inbound(clock), status=QUEUED)
        plan = RoutePlan(
            line_id=LINE,
            distribution="all",
            default_capacity=5,
            only_online=True,
            only_working=True,
            timeout=60,
        )

        await store.dialogs.apply(receipt.dialog_id, [RouteAction(plan=plan)])

        assert await store.operators.offered_to(receipt.dialog_id) == ["op-1", "op-2"]
        dialog = await store.dialogs.get(receipt.dialog_id)
        assert dialog is not None
        assert dialog.status is DialogStatus.OFFERED and dialog.operator_id is None
        other = await ingest(store, inbound(clock, "u2"), status=QUEUED)
        assert await store.operators.offered_to(other.dialog_id) == []

    async def test_members_join_and_leave_a_dialog(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        for operator_id in ("op-1", "op-2"):
            await store.operators.save(operator_id, operator_id)
        receipt = await ingest(store, inbound(clock))

        await store.dialogs.apply(receipt.dialog_id, [MemberAction(operator_id="op-2")])
        await clock.advance(1)
        await store.dialogs.apply(
            receipt.dialog_id,
            [MemberAction(operator_id="op-1"), MemberAction(operator_id="op-2")],  # twice: once
        )
        assert await store.operators.members(receipt.dialog_id) == ["op-2", "op-1"]

        await store.dialogs.apply(receipt.dialog_id, [MemberAction(operator_id="op-2", join=False)])
        assert await store.operators.members(receipt.dialog_id) == ["op-1"]

    # --- clients and the chat tracker -------------------------------------------------------------

    async def _give_phone(
        self, store: SqlStore, clock: VirtualClock, external_id: str, channel: ChannelRef
    ) -> Receipt:
        receipt = await ingest(store, inbound(clock, external_id, channel=channel, text=PHONE))
        fields = {"phone": PHONE}
        action = ProfileAction(fields=fields, message_id=receipt.message_id)
        await store.dialogs.apply(receipt.dialog_id, [action])
        return receipt

    async def test_a_value_given_again_links_the_client_and_says_why(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        ann = await self._give_phone(store, clock, "ann", TELEGRAM)
        viber = await self._give_phone(store, clock, "ann-on-viber", VIBER)
        assert ann.dialog is not None and viber.dialog is not None
        first, second = ann.dialog.client_id, viber.dialog.client_id

        [link] = await store.clients.links(first)

        assert (link.from_client_id, link.to_client_id) == (second, first)
        assert (link.type, link.value, link.message_id) == ("phone", PHONE, viber.message_id)
        assert link.undone_at is None
        assert await store.clients.links(second) == [link]
        moved = await store.dialogs.get(viber.dialog_id)
        assert moved is not None and moved.client_id == first
        assert await store.clients.contact_values(first) == {
            "phone": [PHONE],
            "email": [],
            "im": ["telegram:ann", "viber:ann-on-viber"],
        }

    async def test_unmerging_moves_the_identity_back_for_good(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        ann = await self._give_phone(store, clock, "ann", TELEGRAM)
        viber = await self._give_phone(store, clock, "ann-on-viber", VIBER)
        assert ann.dialog is not None and viber.dialog is not None
        [link] = await store.clients.links(ann.dialog.client_id)
        await clock.advance(5)

        undone = await store.clients.unmerge(link.id)

        assert undone.id == link.id and undone.undone_at is not None
        moved_back = await store.dialogs.get(viber.dialog_id)
        assert moved_back is not None and moved_back.client_id == viber.dialog.client_id
        assert await store.clients.contact_values(ann.dialog.client_id) == {
            "phone": [PHONE],
            "email": [],
            "im": ["telegram:ann"],
        }
        with pytest.raises(LookupError):
            await store.clients.unmerge(link.id)
        with pytest.raises(LookupError):
            await store.clients.unmerge(link.id + 1000)
        await self._give_phone(store, clock, "ann-on-viber", VIBER)  # the same value again
        assert await store.clients.links(viber.dialog.client_id) == [undone]

    async def test_a_client_record_is_linked_and_relinked(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        receipt = await ingest(store, inbound(clock))
        assert receipt.dialog is not None
        client_id = receipt.dialog.client_id
        assert await store.clients.record(client_id) is None

        await store.clients.link_record(client_id, "crm-1")
        assert await store.clients.record(client_id) == "crm-1"
        await store.clients.link_record(client_id, "crm-2")
        assert await store.clients.record(client_id) == "crm-2"
        assert await store.clients.record(client_id + 1000) is None

    # --- statistics -------------------------------------------------------------------------------

    async def test_statistics_count_the_dialogs_opened_in_range(
        self, store: SqlStore, clock: VirtualClock
    ) -> None:
        await store.operators.save("op-1", "Olga")
        since = clock.now()
        early = await ingest(store, inbound(clock, "u1"), status=QUEUED)
        await ingest(store, inbound(clock, "u2", text="hi", channel=VIBER), line_id=OTHER_LINE)
        await store.dialogs.apply(early.dialog_id, [move(QUEUED, ACTIVE, operator_id="op-1")])
        await clock.advance(60)
        until = clock.now()
        await ingest(store, inbound(clock, "u3"))  # opened after the range

        overall = await store.stats.read(since=since, until=until)
        one_line = await store.stats.read(since=since, until=until, line_id=LINE)

        assert overall.overall.dialogs == 2
        assert overall.overall.by_channel == {"telegram": 1, "viber": 1}
        assert {k: v.dialogs for k, v in overall.by_line.items()} == {LINE: 1, OTHER_LINE: 1}
        assert overall.open_by_operator == {"op-1": 1}
        assert one_line.overall.dialogs == 1
        assert one_line.overall.by_status[ACTIVE.value] == 1
        assert one_line.by_operator["op-1"].dialogs == 1
