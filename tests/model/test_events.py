"""The event model: frozen, validated, JSON round-trippable, keeping the raw payload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from omniline.model import (
    Accepted,
    Attachment,
    AttachmentKind,
    ChannelRef,
    Closed,
    ContactShare,
    DialogEvent,
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
    Queued,
    Rated,
    Reopened,
    Skipped,
    Transferred,
    Unpinned,
    Whispered,
    dialog_event_adapter,
    parse_dialog_event,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WHO = Identity(
    channel=ChannelRef(type="telegram", account="shop_bot"),
    external_id="12345",
    display_name="Ann",
    profile={"username": "ann", "language": "en"},
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(raw=json_values, text=st.text(min_size=1, max_size=50))
def test_inbound_events_round_trip_through_json(raw: object, text: str) -> None:
    event = InboundEvent(
        event_id="upd-1",
        identity=WHO,
        message=InboundMessage(
            text=text,
            attachments=(Attachment(kind=AttachmentKind.IMAGE, file_id="AgAD", size=1024),),
            contact=ContactShare(phone="+4915112345678"),
            location=Location(latitude=52.5, longitude=13.4),
            reply_to="77",
        ),
        received_at=AT,
        raw=raw,  # type: ignore[arg-type]
    )
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


EVENTS: list[DialogEvent] = [
    Opened(at=AT, actor="client"),
    HandedOff(at=AT, actor="bot", reason="asked"),
    Queued(at=AT),
    Offered(at=AT, operator_ids=("anna", "boris")),
    Accepted(at=AT, operator_id="anna"),
    Skipped(at=AT, operator_id="boris"),
    Transferred(at=AT, from_operator_id="anna", to_line_id="sales"),
    Invited(at=AT, operator_id="boris"),
    Whispered(at=AT, operator_id="anna", text="vip"),
    Pinned(at=AT),
    Unpinned(at=AT),
    Closed(at=AT, reason="done"),
    Reopened(at=AT),
    Rated(at=AT, score=5),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_every_dialog_event_round_trips_through_json(event: DialogEvent) -> None:
    assert parse_dialog_event(dialog_event_adapter.dump_json(event)) == event


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Queued(at=AT).at = AT  # type: ignore[misc]


@pytest.mark.parametrize(
    "make",
    [
        lambda: InboundMessage(),
        lambda: OutboundMessage(),
        lambda: Attachment(kind=AttachmentKind.IMAGE),
        lambda: Location(latitude=91, longitude=0),
        lambda: Rated(at=AT, score=6),
        lambda: InboundEvent(
            event_id="1",
            identity=WHO,
            message=InboundMessage(text="x"),
            received_at=AT.replace(tzinfo=None),
        ),
        lambda: Identity(channel=ChannelRef(type="Telegram!", account="a"), external_id="1"),
        lambda: InboundMessage(text="x", unknown=1),  # type: ignore[call-arg]
    ],
)
def test_bad_values_are_refused(make: object) -> None:
    with pytest.raises(ValidationError):
        make()  # type: ignore[operator]
