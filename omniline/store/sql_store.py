"""The SQL store: the :class:`~omniline.engine.ports.Store` port over SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from pydantic import JsonValue

from omniline.engine.hours import WorkingHours
from omniline.engine.ports import (
    UNSET,
    Clock,
    Delivery,
    DialogAction,
    FeedCursor,
    FeedPage,
    OutboxResult,
    PendingInbound,
    Receipt,
    Timer,
    Unset,
)
from omniline.engine.stats import DialogRecord, Statistics, compute
from omniline.model import (
    ClientLink,
    Dialog,
    DialogEvent,
    DialogStatus,
    Identity,
    InboundEvent,
    Operator,
    Presence,
    Shift,
    StoredMessage,
)
from omniline.store import operators, tracker, units
from omniline.store.accounts import AccountRepository
from omniline.store.console import ConsoleRepository
from omniline.store.crm import CrmRepository
from omniline.store.executor import Executor, Tx
from omniline.store.line_settings import LineSettingsRepository
from omniline.store.presence import PresenceRepository
from omniline.store.stats import dialog_records, open_by_operator
from omniline.store.throttle import ThrottleRepository


class SqlStore:
    """Durable state in one SQL database. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock, *, outbox_lease: float = 60.0) -> None:
        self._x = executor
        self._clock = clock
        self._lease = outbox_lease
        # One repository per part with tables of its own (the console, its login throttle and
        # presence, run-time line settings, the embedded CRM).
        self.accounts = AccountRepository(executor)
        self.console = ConsoleRepository(executor)
        self.throttle = ThrottleRepository(executor)
        self.presence = PresenceRepository(executor)
        self.line_settings = LineSettingsRepository(executor)
        self.crm = CrmRepository(executor)

    @property
    def dialect_name(self) -> str:
        return self._x.dialect_name

    async def ingest(
        self,
        event: InboundEvent,
        *,
        line_id: str,
        initial_status: DialogStatus,
        reopen_within: float = 0.0,
        rating_window: float = 0.0,
    ) -> Receipt:
        payload = event.model_dump_json()
        return await self._x.run(
            partial(
                units.ingest,
                event=event,
                payload=payload,
                line_id=line_id,
                initial_status=initial_status,
                now=self._clock.now(),
                reopen_within=reopen_within,
                rating_window=rating_window,
            )
        )

    async def pending_inbound(
        self, *, before: datetime, after_id: int = 0, limit: int = 500
    ) -> list[PendingInbound]:
        return await self._x.run(
            partial(units.pending_inbound, before=before, after_id=after_id, limit=limit)
        )

    async def apply(
        self,
        dialog_id: int,
        actions: Sequence[DialogAction],
        *,
        inbox_id: int | None = None,
        inbox_error: str | None = None,
        guard: DialogStatus | None = None,
        known: Dialog | None = None,
    ) -> list[Delivery]:
        return await self._x.run(
            partial(
                units.apply,
                dialog_id=dialog_id,
                actions=tuple(actions),
                inbox_id=inbox_id,
                inbox_error=inbox_error,
                guard=guard,
                known=known,
                now=self._clock.now(),
                lease=self._lease,
            )
        )

    async def fail_inbound(self, inbox_id: int, error: str) -> None:
        """Mark an inbound event whose pipeline run failed, so that it is not replayed forever."""
        now = units.ts(self._clock.now())

        def unit(tx: Tx) -> None:
            tx.run(
                tx.q.inbox_done,
                {"inbox_id": inbox_id, "status": "failed", "error": error, "now": now},
            )

        await self._x.run(unit)

    async def claim_outbox(self, *, now: datetime, lease: float, limit: int) -> list[Delivery]:
        return await self._x.run(partial(units.claim_outbox, now=now, lease=lease, limit=limit))

    async def finish_outbox(self, results: Sequence[OutboxResult]) -> None:
        if results:
            await self._x.run(
                partial(units.finish_outbox, results=tuple(results), now=self._clock.now())
            )

    async def outbox_status(self, outbox_id: int) -> OutboxResult | None:
        return await self._x.run(partial(units.outbox_status, outbox_id=outbox_id))

    async def dialog(self, dialog_id: int) -> Dialog | None:
        return await self._x.run(partial(units.dialog, dialog_id=dialog_id))

    async def open_dialog_of(self, identity: Identity, line_id: str) -> Dialog | None:
        return await self._x.run(partial(units.open_dialog_of, identity=identity, line_id=line_id))

    async def dialog_events(self, dialog_id: int) -> list[DialogEvent]:
        return await self._x.run(partial(units.dialog_events, dialog_id=dialog_id))

    async def messages(
        self, dialog_id: int, *, after_id: int = 0, limit: int = 100, with_internal: bool = False
    ) -> list[StoredMessage]:
        return await self._x.run(
            partial(
                units.messages_of,
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
        return await self._x.run(
            partial(
                units.messages_of,
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
        return await self._x.run(
            partial(units.identity_history, identity=identity, after_id=after_id, limit=limit)
        )

    async def update_profile(self, identity: Identity) -> None:
        await self._x.run(partial(units.update_profile, identity=identity, now=self._clock.now()))

    async def schedule_timer(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        *,
        dialog_id: int | None = None,
        data: JsonValue = None,
    ) -> None:
        await self._x.run(
            partial(
                units.schedule_timer,
                kind=kind,
                key=key,
                due_at=due_at,
                dialog_id=dialog_id,
                data=data,
            )
        )

    async def cancel_timer(self, kind: str, key: str) -> None:
        def unit(tx: Tx) -> None:
            tx.run(tx.q.timer_cancel, {"kind": kind, "key": key})

        await self._x.run(unit)

    async def claim_timers(self, *, now: datetime, lease: float, limit: int) -> list[Timer]:
        return await self._x.run(partial(units.claim_timers, now=now, lease=lease, limit=limit))

    async def finish_timer(self, timer_id: int) -> None:
        now = units.ts(self._clock.now())

        def unit(tx: Tx) -> None:
            tx.run(tx.q.timer_done, {"timer_id": timer_id, "now": now})

        await self._x.run(unit)

    # --- desks and plugins -------------------------------------------------------------------------

    async def feed(self, cursor: FeedCursor, *, limit: int = 200) -> FeedPage:
        return await self._x.run(
            partial(units.feed, cursor=cursor, limit=limit, now=self._clock.now())
        )

    async def feed_end(self) -> FeedCursor:
        return await self._x.run(units.feed_end)

    async def load_state(self, owner: str, key: str) -> str | None:
        return await self._x.run(partial(units.load_state, owner=owner, key=key))

    async def save_state(self, owner: str, key: str, value: str) -> None:
        await self._x.run(
            partial(units.save_state, owner=owner, key=key, value=value, now=self._clock.now())
        )

    # --- the chat tracker and the CRM link -----------------------------------------------------------

    async def client_links(self, client_id: int) -> list[ClientLink]:
        return await self._x.run(partial(tracker.links, client_id=client_id))

    async def unmerge(self, link_id: int) -> ClientLink:
        now = units.ts(self._clock.now())
        return await self._x.run(partial(tracker.unmerge, link_id=link_id, at=now))

    async def client_record(self, client_id: int) -> str | None:
        return await self._x.run(partial(tracker.record_of, client_id=client_id))

    async def link_record(self, client_id: int, record_id: str) -> None:
        now = units.ts(self._clock.now())
        await self._x.run(
            partial(tracker.link_record, client_id=client_id, record_id=record_id, at=now)
        )

    async def contact_values(self, client_id: int) -> dict[str, list[str]]:
        return await self._x.run(partial(tracker.contact_values, client_id=client_id))

    # --- operators and queues ---------------------------------------------------------------------

    async def save_operator(self, operator_id: str, name: str, capacity: int | None = None) -> None:
        now = units.ts(self._clock.now())

        def unit(tx: Tx) -> None:
            params = {"operator_id": operator_id, "name": name, "capacity": capacity, "now": now}
            tx.run(tx.q.operator_upsert, params)
            tx.run(tx.q.refresh_ready, {"operator_id": operator_id})

        await self._x.run(unit)

    async def operator(self, operator_id: str) -> Operator | None:
        return await self._x.run(partial(operators.operator, operator_id=operator_id))

    async def operators(self) -> list[Operator]:
        return await self._x.run(operators.all_operators)

    async def set_operator(
        self,
        operator_id: str,
        *,
        presence: Presence | None = None,
        shift: Shift | None = None,
        capacity: int | Unset | None = UNSET,
    ) -> Operator:
        return await self._x.run(
            partial(
                operators.set_operator,
                operator_id=operator_id,
                presence=presence,
                shift=shift,
                capacity=capacity,
                now=units.ts(self._clock.now()),
            )
        )

    async def set_queue(
        self, line_id: str, operator_ids: Sequence[str], *, default_capacity: int = 10
    ) -> None:
        await self._x.run(
            partial(
                operators.set_queue,
                line_id=line_id,
                operator_ids=tuple(operator_ids),
                default_capacity=default_capacity,
            )
        )

    async def queue(self, line_id: str) -> list[str]:
        return await self._x.run(partial(operators.queue, line_id=line_id))

    async def lines_of(self, operator_id: str) -> list[str]:
        return await self._x.run(partial(operators.lines_of, operator_id=operator_id))

    async def waiting_dialogs(self, line_id: str, *, limit: int = 100) -> list[int]:
        return await self._x.run(partial(operators.waiting, line_id=line_id, limit=limit))

    async def offered_to(self, dialog_id: int) -> list[str]:
        return await self._x.run(partial(operators.offered_to, dialog_id=dialog_id))

    async def members(self, dialog_id: int) -> list[str]:
        return await self._x.run(partial(operators.members, dialog_id=dialog_id))

    async def held_counts(self) -> dict[str, int]:
        return await self._x.run(operators.held_counts)

    # --- statistics ------------------------------------------------------------------------------

    async def statistics(
        self,
        *,
        since: datetime,
        until: datetime,
        line_id: str | None = None,
        hours: Mapping[str, WorkingHours | None] | None = None,
    ) -> Statistics:
        start, end = units.ts(since), units.ts(until)

        def unit(tx: Tx) -> tuple[list[DialogRecord], dict[str, int]]:
            records = dialog_records(tx, since=start, until=end, line_id=line_id)
            return records, open_by_operator(tx)

        records, open_now = await self._x.run(unit)
        return compute(records, open_by_operator=open_now, hours=hours or {})

    async def close(self) -> None:
        await self._x.close()
