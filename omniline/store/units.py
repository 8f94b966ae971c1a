"""The store's units of work: plain functions of a transaction, shared by SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import JsonValue

from omniline.engine.contacts import emails_in, normalized_phone
from omniline.engine.ports import (
    Delivery,
    DialogAction,
    FeedCursor,
    FeedEvent,
    FeedPage,
    FieldsAction,
    LogAction,
    OutboxResult,
    PendingInbound,
    ProfileAction,
    Receipt,
    RouteAction,
    SendAction,
    StatusAction,
    Timer,
    TimerAction,
)
from omniline.engine.rating import score_of
from omniline.errors import DialogConflict, DialogError
from omniline.model import (
    Attachment,
    Button,
    ChannelRef,
    ContactShare,
    Dialog,
    DialogEvent,
    DialogStatus,
    Direction,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
    Opened,
    OutboundMessage,
    Reopened,
    Route,
    StoredMessage,
    Visibility,
    dialog_event_adapter,
    parse_dialog_event,
)
from omniline.model._base import Frozen
from omniline.store import routing, tracker
from omniline.store.executor import Tx
from omniline.store.statements import Row

T = TypeVar("T")


class MessageContent(Frozen):
    """The structured part of a stored message, kept as JSON beside its text."""

    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact: ContactShare | None = None
    location: Location | None = None
    button_payload: str | None = None


def content_json(message: InboundMessage | OutboundMessage, parts: tuple[str, ...]) -> str:
    """A message's structured parts as stored (read back as ``MessageContent``): ``{}`` for plain
    text, the common case."""
    if not any(getattr(message, name) for name in parts):
        return "{}"
    return message.model_dump_json(include=set(parts), exclude_defaults=True)


class _Choices(Frozen):
    buttons: tuple[tuple[Button, ...], ...]


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# --- rows to models -------------------------------------------------------------------------------


def identity_from(row: Row) -> Identity:
    return Identity(
        channel=ChannelRef(type=row["channel_type"], account=row["account"]),
        external_id=row["external_id"],
        display_name=row["display_name"],
        profile=json.loads(row["profile"]),
    )


def dialog_from(row: Row) -> Dialog:
    choices = _Choices.model_validate_json(row["choices"]).buttons if row["choices"] else ()
    return Dialog(
        id=row["id"],
        line_id=row["line_id"],
        client_id=row["client_id"],
        status=DialogStatus(row["status"]),
        operator_id=row["operator_id"],
        pinned=bool(row["pinned"]),
        opened_at=dt(row["opened_at"]),
        closed_at=dt(row["closed_at"]) if row["closed_at"] is not None else None,
        rating=row["rating"],
        pending_buttons=choices,
        hops=row["hops"],
        route=Route(row["route"]) if row["route"] else None,
        tried=tuple(json.loads(row["tried"])) if row["tried"] else (),
        awaiting_rating=bool(row["awaiting_rating"]),
        identity=identity_from(row),
    )


def message_from(row: Row) -> StoredMessage:
    content = MessageContent.model_validate_json(row["content"])
    return StoredMessage(
        id=row["id"],
        dialog_id=row["dialog_id"],
        client_id=row["client_id"],
        direction=Direction(row["direction"]),
        visibility=Visibility(row["visibility"]),
        author=row["author"],
        text=row["text"],
        attachments=content.attachments,
        buttons=content.buttons,
        contact=content.contact,
        location=content.location,
        button_payload=content.button_payload,
        created_at=dt(row["created_at"]),
    )


# --- ingest ---------------------------------------------------------------------------------------


def _identity_key(identity: Identity) -> dict[str, str]:
    return {
        "channel_type": identity.channel.type,
        "account": identity.channel.account,
        "external_id": identity.external_id,
    }


def _identity_ids(
    tx: Tx, identity: Identity, now: float, row: Row | None = None
) -> tuple[int, int, bool]:
    """(identity id, client id, whether the stored identity changed) for ``identity``, creating both
    on first contact and merging newer profile fields into a known identity. ``row`` is the
    identity's stored (id, client id, name, profile) when the caller read it already."""
    q = tx.q
    key = _identity_key(identity)
    if row is None:
        row = tx.first(q.identity_by_key, key)
    if row is None:
        client = tx.first(q.client_insert, {"display_name": identity.display_name, "now": now})
        assert client is not None
        created = tx.first(
            q.identity_insert,
            {
                **key,
                "client_id": client[0],
                "display_name": identity.display_name,
                "profile": json.dumps(identity.profile),
                "now": now,
            },
        )
        if created is not None:
            return int(created[0]), int(client[0]), True
        row = tx.first(q.identity_by_key, key)  # another worker created it meanwhile
        assert row is not None
    identity_id, client_id, name, profile_json = row[0], row[1], row[2], row[3]
    if not identity.profile and identity.display_name in (None, name):
        return int(identity_id), int(client_id), False  # nothing new to remember
    profile = json.loads(profile_json)
    merged = {**profile, **identity.profile}
    new_name = identity.display_name or name
    changed = merged != profile or new_name != name
    if changed:
        tx.run(
            q.identity_update,
            {
                "identity_id": identity_id,
                "display_name": new_name,
                "profile": json.dumps(merged),
                "now": now,
            },
        )
    return int(identity_id), int(client_id), changed


def log_event(tx: Tx, dialog_id: int, event: DialogEvent) -> None:
    tx.run(
        tx.q.event_insert,
        {
            "dialog_id": dialog_id,
            "kind": event.kind,
            "at": ts(event.at),
            "actor": event.actor,
            "data": dialog_event_adapter.dump_json(event).decode(),
        },
    )


def ingest(
    tx: Tx,
    event: InboundEvent,
    payload: str,
    *,
    line_id: str,
    initial_status: DialogStatus,
    now: datetime,
    reopen_within: float = 0.0,
    rating_window: float = 0.0,
) -> Receipt:
    q = tx.q
    at = ts(now)
    channel = event.identity.channel
    key = {"channel_type": channel.type, "account": channel.account, "event_id": event.event_id}
    row = tx.first(q.inbox_insert, {**key, "line_id": line_id, "payload": payload, "now": at})
    if row is None:
        known = tx.first(q.inbox_by_key, key)
        assert known is not None
        return Receipt(duplicate=True, inbox_id=known[0], dialog_id=known[1], message_id=known[2])
    inbox_id = int(row[0])
    known_row = tx.first(
        q.identity_with_open_dialog, {**_identity_key(event.identity), "line_id": line_id}
    )
    identity_id, client_id, changed = _identity_ids(tx, event.identity, at, known_row)
    dialog_row = known_row if known_row is not None and known_row["id"] is not None else None
    if dialog_row is not None and changed:  # read it again with the identity as it is now
        dialog_row = tx.first(q.dialog_open_of, {"identity_id": identity_id, "line_id": line_id})
    opened = reopened = False
    if dialog_row is None and (reopen_within or rating_window):
        dialog_row, reopened = _recent_closed(
            tx, event, identity_id, line_id, now, reopen_within, rating_window
        )
    if dialog_row is None:
        created = tx.first(
            q.dialog_insert,
            {
                "line_id": line_id,
                "client_id": client_id,
                "identity_id": identity_id,
                "status": initial_status.value,
                "now": at,
            },
        )
        if created is not None:
            opened = True
            log_event(tx, int(created[0]), Opened(at=now, actor="client"))
        # Read it back whole; also covers another worker having opened it meanwhile.
        dialog_row = tx.first(q.dialog_open_of, {"identity_id": identity_id, "line_id": line_id})
        assert dialog_row is not None
    dialog = dialog_from(dialog_row)
    dialog_id = dialog.id
    message = event.message
    content = content_json(message, ("attachments", "contact", "location", "button_payload"))
    inserted = tx.first(
        q.message_insert,
        {
            "dialog_id": dialog_id,
            "client_id": client_id,
            "identity_id": identity_id,
            "direction": Direction.IN.value,
            "visibility": Visibility.CLIENT.value,
            "author": "client",
            "text": message.text,
            "content": content,
            "now": at,
        },
    )
    assert inserted is not None
    message_id = int(inserted[0])
    tx.run(q.inbox_placed, {"inbox_id": inbox_id, "dialog_id": dialog_id, "message_id": message_id})
    return Receipt(
        duplicate=False,
        inbox_id=inbox_id,
        dialog_id=dialog_id,
        message_id=message_id,
        dialog=dialog,
        opened=opened,
        reopened=reopened,
    )


def _recent_closed(
    tx: Tx,
    event: InboundEvent,
    identity_id: int,
    line_id: str,
    now: datetime,
    reopen_within: float,
    rating_window: float,
) -> tuple[Row | None, bool]:
    """The identity's last closed dialog if this message belongs to it: an answer to its rating
    question (the dialog stays closed), or a message within the reopen window (it reopens).
    Returns the dialog's row and whether it was reopened."""
    q = tx.q
    row = tx.first(q.dialog_last_closed, {"identity_id": identity_id, "line_id": line_id})
    if row is None or row[7] is None:
        return None, False
    since_close = ts(now) - row[7]
    last = dialog_from(row)
    answers_rating = score_of(event.message, last.pending_buttons) is not None
    if last.awaiting_rating and since_close <= rating_window and answers_rating:
        return row, False
    if not reopen_within or since_close > reopen_within:
        return None, False
    if tx.run(q.dialog_reopen, {"dialog_id": last.id}) != 1:
        return None, False
    log_event(tx, last.id, Reopened(at=now, actor="client"))
    return tx.first(q.dialog_by_id, {"dialog_id": last.id}), True


def pending_inbound(tx: Tx, *, before: datetime, after_id: int, limit: int) -> list[PendingInbound]:
    found = []
    params = {"before": ts(before), "after_id": after_id, "limit": limit}
    for row in tx.rows(tx.q.inbox_pending, params):
        found.append(
            PendingInbound(
                receipt=Receipt(
                    duplicate=False, inbox_id=row[0], dialog_id=row[1], message_id=row[2]
                ),
                line_id=row[3],
                event=InboundEvent.model_validate_json(row[4]),
            )
        )
    return found


# --- dialog actions and the outbox ----------------------------------------------------------------


def apply(
    tx: Tx,
    dialog_id: int,
    actions: Sequence[DialogAction],
    *,
    inbox_id: int | None,
    inbox_error: str | None = None,
    guard: DialogStatus | None,
    known: Dialog | None = None,
    now: datetime,
    lease: float,
) -> list[Delivery]:
    q = tx.q
    at = ts(now)
    if known is not None:  # the caller has the dialog: read only what may have changed
        if known.id != dialog_id:
            raise DialogError(f"dialog {known.id} was given for dialog {dialog_id}")
        row = tx.first(q.dialog_state, {"dialog_id": dialog_id})
        if row is None:
            raise DialogError(f"dialog {dialog_id} does not exist")
        status, client_id, identity_id, choices = row[0], row[1], row[2], row[3]
        recipient = known.identity
        moved = (row["operator_id"], row["line_id"], row["hops"]) != (
            known.operator_id,
            known.line_id,
            known.hops,
        )
        if moved:  # same status, yet not the dialog the caller decided on: decide again
            raise DialogConflict(f"dialog {dialog_id} changed since it was read")
    else:
        row = tx.first(q.dialog_by_id, {"dialog_id": dialog_id})
        if row is None:
            raise DialogError(f"dialog {dialog_id} does not exist")
        status, client_id, identity_id, choices = (
            row["status"],
            row["client_id"],
            row["identity_id"],
            row["choices"],
        )
        recipient = identity_from(row)
    if guard is not None and status != guard.value:
        raise DialogConflict(f"dialog {dialog_id} is {status} now, not {guard.value}")
    deliveries: list[Delivery] = []
    pending = list(actions)
    pending.reverse()
    while pending:
        action = pending.pop()
        if isinstance(action, SendAction):
            sent, choices = _send(
                tx, action, dialog_id, client_id, identity_id, recipient, at, lease, choices
            )
            deliveries.extend(sent)
        elif isinstance(action, LogAction):
            log_event(tx, dialog_id, action.event)
        elif isinstance(action, StatusAction):
            routing.move(tx, dialog_id, action, at)
        elif isinstance(action, RouteAction):
            # What the plan says to do when nobody answered comes next, in this transaction.
            pending.extend(reversed(routing.route(tx, dialog_id, action.plan, now)))
        elif isinstance(action, TimerAction):
            if action.due_at is None:
                tx.run(q.timer_cancel, {"kind": action.kind, "key": action.key})
            else:
                schedule_timer(tx, action.kind, action.key, action.due_at, dialog_id, action.data)
        elif isinstance(action, FieldsAction):
            for name, value in action.model_dump(exclude_none=True).items():
                if name == "route":
                    value = value or None
                tx.run(q.dialog_set_fields[name], {"dialog_id": dialog_id, "value": value})
        elif isinstance(action, ProfileAction):
            _remember(tx, identity_id, action.fields, at)
            client_id = tracker.track(
                tx, identity_id, client_id, action.fields, action.message_id, at, link=action.link
            )
        else:
            params = {"dialog_id": dialog_id, "operator_id": action.operator_id, "now": at}
            tx.run(q.member_insert if action.join else q.member_delete, params)
    if inbox_id is not None:
        status = "failed" if inbox_error is not None else "done"
        tx.run(
            q.inbox_done, {"inbox_id": inbox_id, "status": status, "error": inbox_error, "now": at}
        )
    return deliveries


def _remember(tx: Tx, identity_id: int, fields: dict[str, str], at: float) -> None:
    row = tx.first(tx.q.identity_one, {"identity_id": identity_id})
    if row is None:
        return
    profile = json.loads(row[5])
    new = {k: v for k, v in fields.items() if k not in profile}
    if new:
        tx.run(
            tx.q.identity_update,
            {
                "identity_id": identity_id,
                "display_name": row[4],
                "profile": json.dumps({**profile, **new}),
                "now": at,
            },
        )


def _send(
    tx: Tx,
    action: SendAction,
    dialog_id: int,
    client_id: int,
    identity_id: int,
    recipient: Identity,
    at: float,
    lease: float,
    choices: str | None,
) -> tuple[list[Delivery], str | None]:
    """Store a message the business sends, and its outbox parts. Returns the deliveries and the
    dialog's numbered choices as they are now."""
    q = tx.q
    message = action.message
    content = content_json(message, ("attachments", "buttons"))
    inserted = tx.first(
        q.message_insert,
        {
            "dialog_id": dialog_id,
            "client_id": client_id,
            "identity_id": identity_id,
            "direction": Direction.OUT.value,
            "visibility": action.visibility.value,
            "author": action.author,
            "text": message.text,
            "content": content,
            "now": at,
        },
    )
    assert inserted is not None
    message_id = int(inserted[0])
    if action.visibility is not Visibility.CLIENT:
        return [], choices  # operator-only content never reaches the outbox
    # Remember buttons whose press comes back as plain text: a numbered list (the channel has no
    # buttons) or a reply keyboard (the platform sends the label as the client's message).
    degraded = bool(message.buttons) and not any(p.buttons for p in action.parts)
    as_text = degraded or (bool(message.buttons) and not message.inline)
    new_choices = _Choices(buttons=message.buttons).model_dump_json() if as_text else None
    if new_choices != choices:
        tx.run(q.dialog_set_choices, {"dialog_id": dialog_id, "choices": new_choices})
    deliveries = []
    for part_no, part in enumerate(action.parts):
        key = f"m{message_id}.{part_no}"
        created = tx.first(
            q.outbox_insert,
            {
                "delivery_key": key,
                "dialog_id": dialog_id,
                "message_id": message_id,
                "identity_id": identity_id,
                "author": action.author,
                "payload": part.model_dump_json(exclude_defaults=True),
                "status": "sending",
                "attempts": 1,
                "lease_until": at + lease,
                "now": at,
            },
        )
        assert created is not None
        deliveries.append(
            Delivery(
                outbox_id=created[0],
                delivery_key=key,
                dialog_id=dialog_id,
                message_id=message_id,
                recipient=recipient,
                message=part,
                author=action.author,
                attempt=1,
            )
        )
    return deliveries, new_choices


def claim_outbox(tx: Tx, *, now: datetime, lease: float, limit: int) -> list[Delivery]:
    at = ts(now)
    rows = tx.rows(tx.q.outbox_claim, {"now": at, "lease_until": at + lease, "limit": limit})
    recipients: dict[int, Identity] = {}
    deliveries = []
    for row in sorted(rows, key=lambda r: int(r[0])):
        identity_id = int(row[4])
        recipient = recipients.get(identity_id)
        if recipient is None:
            found = tx.first(tx.q.identity_one, {"identity_id": identity_id})
            assert found is not None
            recipient = recipients[identity_id] = identity_from(found)
        deliveries.append(
            Delivery(
                outbox_id=row[0],
                delivery_key=row[1],
                dialog_id=row[2],
                message_id=row[3],
                recipient=recipient,
                message=OutboundMessage.model_validate_json(row[5]),
                attempt=row[6],
                author=row[7],
            )
        )
    return deliveries


def finish_outbox(tx: Tx, results: Sequence[OutboxResult], *, now: datetime) -> None:
    q = tx.q
    at = ts(now)
    for r in results:
        if r.outcome == "sent":
            tx.run(
                q.outbox_sent,
                {"outbox_id": r.outbox_id, "platform_message_id": r.platform_message_id, "now": at},
            )
        elif r.outcome == "retry":
            due = ts(r.next_attempt_at) if r.next_attempt_at is not None else at
            tx.run(
                q.outbox_retry, {"outbox_id": r.outbox_id, "error": r.error, "next_attempt_at": due}
            )
        else:
            tx.run(q.outbox_failed, {"outbox_id": r.outbox_id, "error": r.error})


def outbox_status(tx: Tx, outbox_id: int) -> OutboxResult | None:
    row = tx.first(tx.q.outbox_by_id, {"outbox_id": outbox_id})
    if row is None:
        return None
    status = row[1]
    outcome = {"sent": "sent", "failed": "failed"}.get(status, "retry")
    return OutboxResult(
        outbox_id=row[0],
        outcome=outcome,
        platform_message_id=row[2],
        error=row[3],
        next_attempt_at=dt(row[4]),
    )


# --- reads ----------------------------------------------------------------------------------------


def dialog(tx: Tx, dialog_id: int) -> Dialog | None:
    row = tx.first(tx.q.dialog_by_id, {"dialog_id": dialog_id})
    return dialog_from(row) if row is not None else None


def open_dialog_of(tx: Tx, identity: Identity, line_id: str) -> Dialog | None:
    row = tx.first(tx.q.identity_with_open_dialog, {**_identity_key(identity), "line_id": line_id})
    return dialog_from(row) if row is not None and row["id"] is not None else None


def dialog_events(tx: Tx, dialog_id: int) -> list[DialogEvent]:
    return [
        parse_dialog_event(r[0]) for r in tx.rows(tx.q.events_of_dialog, {"dialog_id": dialog_id})
    ]


def messages_of(
    tx: Tx, owner: str, owner_id: int, *, after_id: int, limit: int, with_internal: bool
) -> list[StoredMessage]:
    query = getattr(tx.q, f"messages_of_{owner}{'_all' if with_internal else ''}")
    rows = tx.rows(query, {"owner_id": owner_id, "after_id": after_id, "limit": limit})
    return [message_from(r) for r in rows]


def identity_history(
    tx: Tx, identity: Identity, *, after_id: int, limit: int
) -> list[StoredMessage]:
    found = tx.first(tx.q.identity_by_key, _identity_key(identity))
    if found is None:
        return []
    return messages_of(
        tx, "identity", int(found[0]), after_id=after_id, limit=limit, with_internal=False
    )


def update_profile(tx: Tx, identity: Identity, now: datetime) -> None:
    at = ts(now)
    identity_id, client_id, _ = _identity_ids(tx, identity, at)
    # A phone or email given in a form is tracked like one written in a message (numbers
    # without a country code cannot be placed here, so they are kept on the profile only).
    values: dict[str, str] = {}
    phone = identity.profile.get("phone")
    if phone:
        normalized = normalized_phone(phone, None)
        if normalized is not None:
            values["phone"] = normalized
    emails = emails_in(identity.profile.get("email", ""))
    if emails:
        values["email"] = emails[0]
    if values:
        tracker.track(tx, identity_id, client_id, values, None, at, link=True)


# --- timers ---------------------------------------------------------------------------------------


def schedule_timer(
    tx: Tx, kind: str, key: str, due_at: datetime, dialog_id: int | None, data: JsonValue
) -> None:
    tx.run(
        tx.q.timer_upsert,
        {
            "kind": kind,
            "key": key,
            "dialog_id": dialog_id,
            "due_at": ts(due_at),
            "data": json.dumps(data),
        },
    )


def claim_timers(tx: Tx, *, now: datetime, lease: float, limit: int) -> list[Timer]:
    at = ts(now)
    rows = tx.rows(tx.q.timer_claim, {"now": at, "lease_until": at + lease, "limit": limit})
    timers = [
        Timer(id=r[0], kind=r[1], key=r[2], due_at=dt(r[3]), dialog_id=r[4], data=json.loads(r[5]))
        for r in rows
    ]
    return sorted(timers, key=lambda t: (t.due_at, t.id))


# --- the feed and plugin state ---------------------------------------------------------------------


FEED_SETTLE = 10.0
"""Seconds after which a gap in the ids is taken as a transaction that rolled back."""


def contiguous_prefix(
    rows: list[T], after: int, ident: Callable[[T], int], at: Callable[[T], float], settled: float
) -> list[T]:
    """The rows up to the first gap in their ids that may still fill. On PostgreSQL ids are
    handed out when rows are written and become visible when their transaction commits, so a
    later id can show up before an earlier one: a reader that moved past the gap would never see
    the earlier row. A gap is passed only once the rows after it are older than any transaction
    lasts (then the missing id belongs to a rollback)."""
    kept: list[T] = []
    expected = after + 1
    for row in rows:
        if ident(row) != expected and at(row) > settled:
            break
        kept.append(row)
        expected = ident(row) + 1
    return kept


def feed(tx: Tx, cursor: FeedCursor, limit: int, now: datetime) -> FeedPage:
    q = tx.q
    settled = ts(now) - FEED_SETTLE
    event_rows = tx.rows(q.events_after, {"after_id": cursor.event_id, "limit": limit})
    events = tuple(
        FeedEvent(id=r[0], dialog_id=r[1], event=parse_dialog_event(r[2])) for r in event_rows
    )
    events = tuple(
        contiguous_prefix(
            list(events), cursor.event_id, lambda e: e.id, lambda e: ts(e.event.at), settled
        )
    )
    message_rows = tx.rows(q.messages_after, {"after_id": cursor.message_id, "limit": limit})
    messages = tuple(
        contiguous_prefix(
            [message_from(r) for r in message_rows],
            cursor.message_id,
            lambda m: m.id,
            lambda m: ts(m.created_at),
            settled,
        )
    )
    after = FeedCursor(
        event_id=events[-1].id if events else cursor.event_id,
        message_id=messages[-1].id if messages else cursor.message_id,
    )
    return FeedPage(events=events, messages=messages, cursor=after)


def feed_end(tx: Tx) -> FeedCursor:
    row = tx.first(tx.q.feed_end, {})
    assert row is not None
    return FeedCursor(event_id=int(row[0]), message_id=int(row[1]))


def load_state(tx: Tx, owner: str, key: str) -> str | None:
    row = tx.first(tx.q.state_get, {"owner": owner, "key": key})
    return str(row[0]) if row is not None else None


def save_state(tx: Tx, owner: str, key: str, value: str, now: datetime) -> None:
    tx.run(tx.q.state_put, {"owner": owner, "key": key, "value": value, "now": ts(now)})
