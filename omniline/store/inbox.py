"""The inbox: every platform update received, stored with its message in its dialog in one
transaction before the platform is acknowledged, and what recovery reads back."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from omniline import metrics
from omniline.engine.lifecycle import Transition, check_opening, next_status
from omniline.engine.ports import Clock, PendingInbound, Receipt
from omniline.engine.rating import score_of
from omniline.model import (
    DialogStatus,
    Direction,
    InboundEvent,
    Opened,
    Reopened,
    Visibility,
)
from omniline.store.dialogs import identity_ids, log_event, stored_identity
from omniline.store.executor import Executor, Tx
from omniline.store.rows import content_json, dialog_from, identity_key, ts
from omniline.store.statements import Row


class InboxRepository:
    """The inbox. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def ingest(
        self,
        event: InboundEvent,
        *,
        line_id: str,
        initial_status: DialogStatus,
        reopen_within: float = 0.0,
        rating_window: float = 0.0,
    ) -> Receipt:
        """Store an inbound event in the inbox and in its dialog. With no open dialog, a message
        goes to the last closed one if it answers that dialog's rating question within
        ``rating_window`` seconds of the close, or reopens it within ``reopen_within`` seconds;
        otherwise a new dialog opens. A redelivery (same channel and event id) changes nothing
        and comes back ``duplicate``."""
        payload = event.model_dump_json()
        receipt = await self._x.run(
            partial(
                ingest,
                event=event,
                payload=payload,
                line_id=line_id,
                initial_status=initial_status,
                now=self._clock.now(),
                reopen_within=reopen_within,
                rating_window=rating_window,
            )
        )
        if not receipt.duplicate:  # counted once committed, and once per event
            channel = event.identity.channel
            metrics.INBOUND_MESSAGES.of(line_id, channel.type, channel.account).inc()
            if receipt.opened or receipt.reopened:
                kind = "opened" if receipt.opened else "reopened"
                metrics.DIALOG_EVENTS.of(line_id, kind).inc()
        return receipt

    async def pending(
        self, *, before: datetime, after_id: int = 0, limit: int = 500
    ) -> list[PendingInbound]:
        """Stored inbound events received at or before ``before`` whose processing never
        finished, with inbox ids above ``after_id``, oldest first."""
        return await self._x.run(partial(pending, before=before, after_id=after_id, limit=limit))

    async def earlier_pending(self, dialog_id: int, inbox_id: int) -> int | None:
        """The first event of the dialog stored before ``inbox_id`` that is still to process."""
        return await self._x.run(partial(earlier_pending, dialog_id=dialog_id, inbox_id=inbox_id))

    async def pending_of_dialog(self, dialog_id: int, *, before_id: int) -> list[PendingInbound]:
        """The dialog's events stored before ``before_id`` that are still to process, oldest
        first, however recent."""
        return await self._x.run(
            partial(pending_of_dialog, dialog_id=dialog_id, before_id=before_id)
        )

    async def fail(self, inbox_id: int, error: str) -> None:
        """Mark an inbound event whose processing failed for good, so it is not replayed."""
        now = ts(self._clock.now())
        await self._x.run(partial(fail, inbox_id=inbox_id, error=error, now=now))


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
    check_opening(initial_status)
    q = tx.q
    at = ts(now)
    channel = event.identity.channel
    key = {"channel_type": channel.type, "account": channel.account, "event_id": event.event_id}
    row = tx.first(q.inbox_insert, {**key, "line_id": line_id, "payload": payload, "now": at})
    if row is None:
        known = tx.first(q.inbox_by_key, key)
        assert known is not None
        return Receipt(
            duplicate=True,
            inbox_id=known["id"],
            dialog_id=known["dialog_id"],
            message_id=known["message_id"],
        )
    inbox_id = int(row["id"])
    known_row = tx.first(
        q.identity_with_open_dialog, {**identity_key(event.identity), "line_id": line_id}
    )
    stored = stored_identity(known_row, "known_") if known_row is not None else None
    identity_id, client_id, changed = identity_ids(tx, event.identity, at, stored)
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
            log_event(tx, int(created["id"]), Opened(at=now, actor="client"))
        # Read it back whole; also covers another worker having opened it meanwhile.
        dialog_row = tx.first(q.dialog_open_of, {"identity_id": identity_id, "line_id": line_id})
        assert dialog_row is not None
    dialog = dialog_from(dialog_row)
    dialog_id = dialog.id
    message = event.message
    content = content_json(
        message, ("attachments", "contact", "location", "button_payload", "unsupported")
    )
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
    message_id = int(inserted["id"])
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
    if row is None or row["closed_at"] is None:
        return None, False
    since_close = ts(now) - row["closed_at"]
    last = dialog_from(row)
    answers_rating = score_of(event.message, last.pending_buttons) is not None
    if last.awaiting_rating and since_close <= rating_window and answers_rating:
        return row, False
    if not reopen_within or since_close > reopen_within:
        return None, False
    reopened = next_status(DialogStatus.CLOSED, Transition.REOPEN)
    if tx.run(q.dialog_reopen, {"dialog_id": last.id, "status": reopened.value}) != 1:
        return None, False
    log_event(tx, last.id, Reopened(at=now, actor="client"))
    return tx.first(q.dialog_by_id, {"dialog_id": last.id}), True


def pending(tx: Tx, *, before: datetime, after_id: int, limit: int) -> list[PendingInbound]:
    params = {"before": ts(before), "after_id": after_id, "limit": limit}
    return [_pending_from(row) for row in tx.rows(tx.q.inbox_pending, params)]


def earlier_pending(tx: Tx, *, dialog_id: int, inbox_id: int) -> int | None:
    row = tx.first(tx.q.inbox_earlier_pending, {"dialog_id": dialog_id, "inbox_id": inbox_id})
    return int(row["earlier"]) if row is not None and row["earlier"] is not None else None


def pending_of_dialog(tx: Tx, *, dialog_id: int, before_id: int) -> list[PendingInbound]:
    params = {"dialog_id": dialog_id, "inbox_id": before_id}
    return [_pending_from(row) for row in tx.rows(tx.q.inbox_pending_of_dialog, params)]


def _pending_from(row: Row) -> PendingInbound:
    return PendingInbound(
        receipt=Receipt(
            duplicate=False,
            inbox_id=row["id"],
            dialog_id=row["dialog_id"],
            message_id=row["message_id"],
        ),
        line_id=row["line_id"],
        event=InboundEvent.model_validate_json(row["payload"]),
    )


def fail(tx: Tx, inbox_id: int, error: str, now: float) -> None:
    tx.run(tx.q.inbox_done, {"inbox_id": inbox_id, "status": "failed", "error": error, "now": now})
