"""The API's views of stored things: a dialog with the people around it, a message with its
author's name, a logged event."""

from __future__ import annotations

from collections.abc import Callable

from omniline.console.schemas import ClientBrief, DialogView, EventView, MessageView
from omniline.model import Dialog, DialogEvent, DialogStatus, StoredMessage
from omniline.store.console import DialogPeople

AuthorName = Callable[[str], str]


def dialog_view(dialog: Dialog, people: DialogPeople) -> DialogView:
    offered = people.offered_to.get(dialog.id, [])
    if dialog.status is DialogStatus.OFFERED and dialog.operator_id is not None:
        offered = [dialog.operator_id]
    elif dialog.status is not DialogStatus.OFFERED:
        offered = []
    identity = dialog.identity
    return DialogView(
        id=dialog.id,
        line_id=dialog.line_id,
        client_id=dialog.client_id,
        status=dialog.status,
        operator_id=dialog.operator_id,
        offered_to=offered,
        members=people.members.get(dialog.id, []),
        pinned=dialog.pinned,
        opened_at=dialog.opened_at,
        closed_at=dialog.closed_at,
        rating=dialog.rating,
        route=dialog.route,
        awaiting_rating=dialog.awaiting_rating,
        client=ClientBrief(
            name=identity.display_name, channel=identity.channel, user_id=identity.external_id
        ),
        last_message_id=people.last_message.get(dialog.id),
    )


def message_view(message: StoredMessage, author_name: AuthorName) -> MessageView:
    return MessageView(
        id=message.id,
        dialog_id=message.dialog_id,
        direction=message.direction,
        visibility=message.visibility,
        author=message.author,
        author_name=author_name(message.author),
        text=message.text,
        attachments=list(message.attachments),
        buttons=[list(row) for row in message.buttons],
        contact=message.contact,
        location=message.location,
        button_payload=message.button_payload,
        unsupported=message.unsupported,
        created_at=message.created_at,
    )


def event_view(event: DialogEvent, *, dialog_id: int, event_id: int | None) -> EventView:
    data = event.model_dump(mode="json", exclude={"kind", "at", "actor"})
    return EventView(
        id=event_id,
        dialog_id=dialog_id,
        type=event.kind,
        at=event.at,
        actor=event.actor,
        data=data,
    )
