"""Operators and line queues: presence, shift, capacity, queue order, and who a dialog is
offered to or shared with. Who takes a dialog is decided in ``store.routing``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from omniline.engine.ports import UNSET, Clock, Unset
from omniline.errors import OmnilineError
from omniline.model import Operator, Presence, Shift
from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.statements import Row


class OperatorRepository:
    """Operators and queues. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def save(self, operator_id: str, name: str, capacity: int | None = None) -> None:
        """Add an operator (offline, day not started) or update their name and capacity."""
        now = ts(self._clock.now())
        await self._x.run(
            partial(save, operator_id=operator_id, name=name, capacity=capacity, now=now)
        )

    async def get(self, operator_id: str) -> Operator | None:
        return await self._x.run(partial(operator, operator_id=operator_id))

    async def all(self) -> list[Operator]:
        return await self._x.run(all_operators)

    async def update(
        self,
        operator_id: str,
        *,
        presence: Presence | None = None,
        shift: Shift | None = None,
        capacity: int | Unset | None = UNSET,
    ) -> Operator:
        """Change an operator's presence, shift or capacity (``None``: the line's default)."""
        return await self._x.run(
            partial(
                set_operator,
                operator_id=operator_id,
                presence=presence,
                shift=shift,
                capacity=capacity,
                now=ts(self._clock.now()),
            )
        )

    async def set_queue(
        self, line_id: str, operator_ids: Sequence[str], *, default_capacity: int = 10
    ) -> None:
        """Make a line's queue exactly these operators, in this order; ``default_capacity`` is
        the line's, for operators without their own."""
        await self._x.run(
            partial(
                set_queue,
                line_id=line_id,
                operator_ids=tuple(operator_ids),
                default_capacity=default_capacity,
            )
        )

    async def queue(self, line_id: str) -> list[str]:
        return await self._x.run(partial(queue, line_id=line_id))

    async def lines_of(self, operator_id: str) -> list[str]:
        """The lines whose queue the operator is in."""
        return await self._x.run(partial(lines_of, operator_id=operator_id))

    async def waiting_dialogs(self, line_id: str, *, limit: int = 100) -> list[int]:
        """Dialogs of the line waiting for an operator to free up or become available, oldest
        first."""
        return await self._x.run(partial(waiting, line_id=line_id, limit=limit))

    async def offered_to(self, dialog_id: int) -> list[str]:
        """Who sees a dialog offered to all operators at once."""
        return await self._x.run(partial(offered_to, dialog_id=dialog_id))

    async def members(self, dialog_id: int) -> list[str]:
        """Operators invited into the dialog."""
        return await self._x.run(partial(members, dialog_id=dialog_id))

    async def held_counts(self) -> dict[str, int]:
        """Dialogs offered to or held by each operator, counted from the dialogs."""
        return await self._x.run(held_counts)


def _operator(row: Row) -> Operator:
    return Operator(
        id=row["id"],
        name=row["name"],
        presence=Presence(row["presence"]),
        shift=Shift(row["shift"]),
        capacity=row["capacity"],
        load=row["load"],
    )


def save(tx: Tx, operator_id: str, name: str, capacity: int | None, now: float) -> None:
    params = {"operator_id": operator_id, "name": name, "capacity": capacity, "now": now}
    tx.run(tx.q.operator_upsert, params)
    tx.run(tx.q.refresh_ready, {"operator_id": operator_id})


def operator(tx: Tx, operator_id: str) -> Operator | None:
    row = tx.first(tx.q.operator_one, {"operator_id": operator_id})
    return _operator(row) if row is not None else None


def all_operators(tx: Tx) -> list[Operator]:
    return [_operator(r) for r in tx.rows(tx.q.operators_all, {})]


def set_operator(
    tx: Tx,
    operator_id: str,
    *,
    presence: Presence | None,
    shift: Shift | None,
    capacity: int | Unset | None,
    now: float,
) -> Operator:
    q = tx.q
    changes: dict[str, object] = {}
    if presence is not None:
        changes["presence"] = presence.value
    if shift is not None:
        changes["shift"] = shift.value
    if capacity is not UNSET:
        if capacity is not None and capacity < 1:
            raise OmnilineError(f"capacity must be at least 1, not {capacity}")
        changes["capacity"] = capacity
    for name, value in changes.items():
        statement = getattr(q, f"operator_set_{name}")
        if tx.run(statement, {"operator_id": operator_id, "value": value, "now": now}) != 1:
            raise OmnilineError(f"no operator {operator_id!r}")
    tx.run(q.refresh_ready, {"operator_id": operator_id})
    found = operator(tx, operator_id)
    if found is None:
        raise OmnilineError(f"no operator {operator_id!r}")
    return found


def set_queue(
    tx: Tx, line_id: str, operator_ids: tuple[str, ...], default_capacity: int = 10
) -> None:
    """Make the line's queue exactly ``operator_ids``, in that order (round-robin counts stay)."""
    q = tx.q
    for position, operator_id in enumerate(operator_ids):
        if tx.first(q.operator_one, {"operator_id": operator_id}) is None:
            raise OmnilineError(f"no operator {operator_id!r} to put in line {line_id!r}'s queue")
        tx.run(
            q.queue_upsert, {"line_id": line_id, "operator_id": operator_id, "position": position}
        )
    keep = set(operator_ids)
    for row in tx.rows(q.queue_all, {"line_id": line_id}):
        if row["operator_id"] not in keep:
            tx.run(q.queue_remove, {"line_id": line_id, "operator_id": row["operator_id"]})
    tx.run(q.refresh_line, {"line_id": line_id, "capacity": default_capacity})


def queue(tx: Tx, line_id: str) -> list[str]:
    return [r["operator_id"] for r in tx.rows(tx.q.queue_all, {"line_id": line_id})]


def lines_of(tx: Tx, operator_id: str) -> list[str]:
    rows = tx.rows(tx.q.lines_of_operator, {"operator_id": operator_id})
    return sorted(r["line_id"] for r in rows)


def waiting(tx: Tx, line_id: str, limit: int) -> list[int]:
    rows = tx.rows(tx.q.waiting_on_line, {"line_id": line_id, "limit": limit})
    return [int(r["id"]) for r in rows]


def offered_to(tx: Tx, dialog_id: int) -> list[str]:
    return [r["operator_id"] for r in tx.rows(tx.q.offers_of_dialog, {"dialog_id": dialog_id})]


def members(tx: Tx, dialog_id: int) -> list[str]:
    return [r["operator_id"] for r in tx.rows(tx.q.members_of_dialog, {"dialog_id": dialog_id})]


def held_counts(tx: Tx) -> dict[str, int]:
    """Dialogs offered to or held by each operator, counted from the dialogs themselves."""
    return {r["operator_id"]: int(r["held"]) for r in tx.rows(tx.q.held_counts, {})}
