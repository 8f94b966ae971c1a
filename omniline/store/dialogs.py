"""Dialogs and their messages: reads, profile updates, and ``apply``, which commits a run's or an
operator's actions to a dialog in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from omniline import metrics
from omniline.engine.contacts import emails_in, normalized_phone
from omniline.engine.lifecycle import check_move
from omniline.engine.ports import (
    Clock,
    Delivery,
    DialogAction,
    FieldsAction,
    LogAction,
    ProfileAction,
    RouteAction,
    SendAction,
    StatusAction,
    TimerAction,
)
from omniline.errors import DialogConflict, DialogError
from omniline.model import (
    Dialog,
    DialogEvent,
    DialogStatus,
    Direction,
    Identity,
    StoredMessage,
    Visibility,
    dialog_event_adapter,
    parse_dialog_event,
)
from omniline.store import routing, tracker
from omniline.store.executor import Executor, Tx
from omniline.store.rows import (
    Choices,
    content_json,
    dialog_from,
    identity_from,
    identity_key,
    message_from,
    ts,
)
from omniline.store.statements import Row
from omniline.store.timers import schedule


class OutOfTurn(Exception):
    """``apply`` was asked to process an event in turn, and an event of the same dialog stored
    before it is still to process (by another worker, or left for recovery): nothing was applied.
    """

    def __init__(self, dialog_id: int, inbox_id: int, earlier_id: int) -> None:
        super().__init__(
            f"event {inbox_id} of dialog {dialog_id} waits for event {earlier_id} before it"
        )
        self.dialog_id = dialog_id
        self.inbox_id = inbox_id
        self.earlier_id = earlier_id


class DialogRepository:
    """Dialogs, their messages and log. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock, *, outbox_lease: float = 60.0) -> None:
        self._x = executor
        self._clock = clock
        self._lease = outbox_lease

    async def get(self, dialog_id: int) -> Dialog | None:
        return await self._x.run(partial(dialog, dialog_id=dialog_id))

    async def open_of(self, identity: Identity, line_id: str) -> Dialog | None:
        """The identity's dialog that is not closed (on any line: a transfer moves it)."""
        return await self._x.run(partial(open_dialog_of, identity=identity, line_id=line_id))

    async def events(self, dialog_id: int) -> list[DialogEvent]:
        """The dialog's log, oldest first."""
        return await self._x.run(partial(dialog_events, dialog_id=dialog_id))

    async def messages(
        self, dialog_id: int, *, after_id: int = 0, limit: int = 100, with_internal: bool = False
    ) -> list[StoredMessage]:
        return await self._x.run(
            partial(
                messages_of,
                owner="dialog",
                owner_id=dialog_id,
                after_id=after_id,
                limit=limit,
                with_internal=with_internal,
            )
        )

    async def client_history(
        self, client_id: int, *, after_id: int = 0, limit: int = 100, with_internal: bool = False
    ) -> list[StoredMessage]:
        """Every message of every dialog of a client, oldest first."""
        return await self._x.run(
            partial(
                messages_of,
                owner="client",
                owner_id=client_id,
                after_id=after_id,
                limit=limit,
                with_internal=with_internal,
            )
        )

    async def identity_history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        """What this identity can read back: client-visible messages of its own dialogs."""
        return await self._x.run(
            partial(identity_history, identity=identity, after_id=after_id, limit=limit)
        )

    async def update_profile(self, identity: Identity) -> None:
        """Merge the identity's display name and profile fields into the stored identity."""
        await self._x.run(partial(update_profile, identity=identity, now=self._clock.now()))

    async def apply(
        self,
        dialog_id: int,
        actions: Sequence[DialogAction],
        *,
        inbox_id: int | None = None,
        inbox_error: str | None = None,
        guard: DialogStatus | None = None,
        known: Dialog | None = None,
        in_turn: bool = False,
    ) -> list[Delivery]:
        """Apply a pipeline run's or an operator's actions to a dialog in one transaction, and mark
        ``inbox_id`` processed (failed, with ``inbox_error``). With ``guard``, raise
        ``DialogConflict`` and change nothing unless the dialog is still in that status.
        ``known`` is this dialog as the caller read it from the store and decided on: its identity
        is taken as the recipient instead of being read again, and ``DialogConflict`` is raised
        (nothing changes) if its holder, line or offer moved since, even in the same status.
        With ``in_turn``, raise :class:`OutOfTurn` and change nothing while an event of the dialog
        stored before ``inbox_id`` is still to process.
        Returns the new outbox deliveries, leased to the caller; none when ``inbox_id`` was
        processed already (by another run of the event), and then nothing is applied."""
        tally = metrics.DialogTally()
        deliveries = await self._x.run(
            partial(
                apply,
                dialog_id=dialog_id,
                actions=tuple(actions),
                inbox_id=inbox_id,
                inbox_error=inbox_error,
                guard=guard,
                known=known,
                in_turn=in_turn,
                now=self._clock.now(),
                lease=self._lease,
                tally=tally,
            )
        )
        tally.count()  # committed: count what it did
        return deliveries


# --- units shared with the inbox ------------------------------------------------------------------


def stored_identity(row: Row, prefix: str = "") -> tuple[int, int, str | None, str]:
    """(id, client id, display name, profile JSON) of an identity's row; ``prefix`` is how a
    statement that also selects a dialog labelled the identity's columns (``known_``)."""
    return (
        int(row[f"{prefix}id"]),
        int(row[f"{prefix}client_id"]),
        row[f"{prefix}display_name"],
        row[f"{prefix}profile"],
    )


def identity_ids(
    tx: Tx, identity: Identity, now: float, stored: tuple[int, int, str | None, str] | None = None
) -> tuple[int, int, bool]:
    """(identity id, client id, whether the stored identity changed) for ``identity``, creating both
    on first contact and merging newer profile fields into a known identity. ``stored`` is the
    identity as :func:`stored_identity` reads it, when the caller read it already."""
    q = tx.q
    key = identity_key(identity)
    if stored is None:
        found = tx.first(q.identity_by_key, key)
        stored = stored_identity(found) if found is not None else None
    if stored is None:
        client = tx.first(q.client_insert, {"display_name": identity.display_name, "now": now})
        assert client is not None
        created = tx.first(
            q.identity_insert,
            {
                **key,
                "client_id": client["id"],
                "display_name": identity.display_name,
                "profile": json.dumps(identity.profile),
                "now": now,
            },
        )
        if created is not None:
            return int(created["id"]), int(client["id"]), True
        found = tx.first(q.identity_by_key, key)  # another worker created it meanwhile
        assert found is not None
        stored = stored_identity(found)
    identity_id, client_id, name, profile_json = stored
    if not identity.profile and identity.display_name in (None, name):
        return identity_id, client_id, False  # nothing new to remember
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
    return identity_id, client_id, changed


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


# --- apply ----------------------------------------------------------------------------------------


def apply(
    tx: Tx,
    dialog_id: int,
    actions: Sequence[DialogAction],
    *,
    inbox_id: int | None,
    inbox_error: str | None = None,
    guard: DialogStatus | None,
    known: Dialog | None = None,
    in_turn: bool = False,
    now: datetime,
    lease: float,
    tally: metrics.DialogTally | None = None,
) -> list[Delivery]:
    q = tx.q
    at = ts(now)
    if known is not None and known.id != dialog_id:
        raise DialogError(f"dialog {known.id} was given for dialog {dialog_id}")
    tally = tally or metrics.DialogTally()
    tally.reset("")  # a unit may run again after a rollback: nothing of an earlier run counts
    if inbox_id is not None and not _claim(tx, dialog_id, inbox_id, inbox_error, at, in_turn):
        return []
    if known is not None:  # the caller has the dialog: read only what may have changed
        row = tx.first(q.dialog_state, {"dialog_id": dialog_id})
        if row is None:
            raise DialogError(f"dialog {dialog_id} does not exist")
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
        recipient = identity_from(row)
    # Both statements name these columns alike (``dialog_by_id`` labels the identity's id).
    status, client_id, identity_id, choices = (
        row["status"],
        row["client_id"],
        row["identity_id"],
        row["choices"],
    )
    if guard is not None and status != guard.value:
        raise DialogConflict(f"dialog {dialog_id} is {status} now, not {guard.value}")
    tally.reset(row["line_id"])  # a unit may run again after a rollback: count its last run
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
            if sent:
                channel = recipient.channel
                tally.message(channel.type, channel.account, action.author)
        elif isinstance(action, LogAction):
            log_event(tx, dialog_id, action.event)
            tally.event(action.event.kind, getattr(action.event, "reason", None))
        elif isinstance(action, StatusAction):
            check_move(action)
            routing.move(tx, dialog_id, action, at)
        elif isinstance(action, RouteAction):
            # What the plan says to do when nobody answered comes next, in this transaction.
            pending.extend(reversed(routing.route(tx, dialog_id, action.plan, now)))
        elif isinstance(action, TimerAction):
            if action.rearm:
                tx.run(q.timer_rearm, {"kind": action.kind, "key": action.key})
            elif action.due_at is None:
                tx.run(q.timer_cancel, {"kind": action.kind, "key": action.key})
            else:
                schedule(tx, action.kind, action.key, action.due_at, dialog_id, action.data)
        elif isinstance(action, FieldsAction):
            if action.line_id is not None:  # a transfer: what follows belongs to the new line
                tally.line = action.line_id
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
    return deliveries


def _claim(
    tx: Tx, dialog_id: int, inbox_id: int, error: str | None, at: float, in_turn: bool
) -> bool:
    """Mark the event processed, first thing in the transaction; False if it was already.

    Only the first run of an event counts: a recovery sweep or a takeover by another worker may
    run it at the same time (the row lock makes the second wait, then find it done: no answer
    twice). Claiming before the dialog is read also means that, in turn, the read sees what every
    earlier event of the dialog did: they were all committed before this statement began."""
    status = "failed" if error is not None else "done"
    params = {"inbox_id": inbox_id, "status": status, "error": error, "now": at}
    if not in_turn:
        return tx.run(tx.q.inbox_done, params) == 1
    row = tx.first(tx.q.inbox_done_in_turn, {**params, "dialog_id": dialog_id})
    if row is None:
        return False
    if row["earlier"] is not None:
        raise OutOfTurn(dialog_id, inbox_id, int(row["earlier"]))
    return True


def _remember(tx: Tx, identity_id: int, fields: dict[str, str], at: float) -> None:
    row = tx.first(tx.q.identity_one, {"identity_id": identity_id})
    if row is None:
        return
    profile = json.loads(row["profile"])
    new = {k: v for k, v in fields.items() if k not in profile}
    if new:
        tx.run(
            tx.q.identity_update,
            {
                "identity_id": identity_id,
                "display_name": row["display_name"],
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
    message_id = int(inserted["id"])
    if action.visibility is not Visibility.CLIENT:
        return [], choices  # operator-only content never reaches the outbox
    # Remember buttons whose press comes back as plain text: a numbered list (the channel has no
    # buttons) or a reply keyboard (the platform sends the label as the client's message).
    degraded = bool(message.buttons) and not any(p.buttons for p in action.parts)
    as_text = degraded or (bool(message.buttons) and not message.inline)
    new_choices = Choices(buttons=message.buttons).model_dump_json() if as_text else None
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
                outbox_id=created["id"],
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


# --- reads and profile updates --------------------------------------------------------------------


def dialog(tx: Tx, dialog_id: int) -> Dialog | None:
    row = tx.first(tx.q.dialog_by_id, {"dialog_id": dialog_id})
    return dialog_from(row) if row is not None else None


def open_dialog_of(tx: Tx, identity: Identity, line_id: str) -> Dialog | None:
    row = tx.first(tx.q.identity_with_open_dialog, {**identity_key(identity), "line_id": line_id})
    return dialog_from(row) if row is not None and row["id"] is not None else None


def dialog_events(tx: Tx, dialog_id: int) -> list[DialogEvent]:
    rows = tx.rows(tx.q.events_of_dialog, {"dialog_id": dialog_id})
    return [parse_dialog_event(r["data"]) for r in rows]


def messages_of(
    tx: Tx, owner: str, owner_id: int, *, after_id: int, limit: int, with_internal: bool
) -> list[StoredMessage]:
    query = getattr(tx.q, f"messages_of_{owner}{'_all' if with_internal else ''}")
    rows = tx.rows(query, {"owner_id": owner_id, "after_id": after_id, "limit": limit})
    return [message_from(r) for r in rows]


def identity_history(
    tx: Tx, identity: Identity, *, after_id: int, limit: int
) -> list[StoredMessage]:
    found = tx.first(tx.q.identity_by_key, identity_key(identity))
    if found is None:
        return []
    return messages_of(
        tx, "identity", int(found["id"]), after_id=after_id, limit=limit, with_internal=False
    )


def update_profile(tx: Tx, identity: Identity, now: datetime) -> None:
    at = ts(now)
    identity_id, client_id, _ = identity_ids(tx, identity, at)
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
