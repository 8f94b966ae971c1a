"""The outbox's rows: claiming parts to send under a lease and recording how sending went.

Rows are written by :meth:`DialogRepository.apply <omniline.store.dialogs.DialogRepository.apply>`, in the
transaction that stores their message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from omniline.engine.ports import Clock, Delivery, OutboxResult
from omniline.model import Identity, OutboundMessage
from omniline.store.executor import Executor, Tx
from omniline.store.rows import dt, identity_from, ts


class OutboxRepository:
    """The outbox. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def claim(self, *, now: datetime, lease: float, limit: int) -> list[Delivery]:
        """Parts due at ``now`` (retries, and rows whose lease ran out), leased for ``lease``
        seconds, oldest first."""
        return await self._x.run(partial(claim, now=now, lease=lease, limit=limit))

    async def finish(self, results: Sequence[OutboxResult]) -> None:
        """Record many sends' outcomes in one transaction."""
        if results:
            await self._x.run(partial(finish, results=tuple(results), now=self._clock.now()))

    async def status(self, outbox_id: int) -> OutboxResult | None:
        return await self._x.run(partial(status, outbox_id=outbox_id))


def claim(tx: Tx, *, now: datetime, lease: float, limit: int) -> list[Delivery]:
    at = ts(now)
    rows = tx.rows(tx.q.outbox_claim, {"now": at, "lease_until": at + lease, "limit": limit})
    recipients: dict[int, Identity] = {}
    deliveries = []
    for row in sorted(rows, key=lambda r: int(r["id"])):
        identity_id = int(row["identity_id"])
        recipient = recipients.get(identity_id)
        if recipient is None:
            found = tx.first(tx.q.identity_one, {"identity_id": identity_id})
            assert found is not None
            recipient = recipients[identity_id] = identity_from(found)
        deliveries.append(
            Delivery(
                outbox_id=row["id"],
                delivery_key=row["delivery_key"],
                dialog_id=row["dialog_id"],
                message_id=row["message_id"],
                recipient=recipient,
                message=OutboundMessage.model_validate_json(row["payload"]),
                attempt=row["attempts"],
                author=row["author"],
            )
        )
    return deliveries


def finish(tx: Tx, results: Sequence[OutboxResult], *, now: datetime) -> None:
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


def status(tx: Tx, outbox_id: int) -> OutboxResult | None:
    row = tx.first(tx.q.outbox_by_id, {"outbox_id": outbox_id})
    if row is None:
        return None
    outcome = {"sent": "sent", "failed": "failed"}.get(row["status"], "retry")
    return OutboxResult(
        outbox_id=row["id"],
        outcome=outcome,
        platform_message_id=row["platform_message_id"],
        error=row["error"],
        next_attempt_at=dt(row["next_attempt_at"]),
    )
