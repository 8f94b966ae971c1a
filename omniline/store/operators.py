"""Units of work for operators and line queues: presence, shift, capacity, queue order."""

from __future__ import annotations

from omniline.engine.ports import UNSET, Unset
from omniline.errors import OmnilineError
from omniline.model import Operator, Presence, Shift
from omniline.store.executor import Tx
from omniline.store.statements import Row


def _operator(row: Row) -> Operator:
    return Operator(
        id=row[0],
        name=row[1],
        presence=Presence(row[2]),
        shift=Shift(row[3]),
        capacity=row[4],
        load=row[5],
    )


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
        if row[0] not in keep:
            tx.run(q.queue_remove, {"line_id": line_id, "operator_id": row[0]})
    tx.run(q.refresh_line, {"line_id": line_id, "capacity": default_capacity})


def queue(tx: Tx, line_id: str) -> list[str]:
    return [r[0] for r in tx.rows(tx.q.queue_all, {"line_id": line_id})]


def lines_of(tx: Tx, operator_id: str) -> list[str]:
    return sorted(r[0] for r in tx.rows(tx.q.lines_of_operator, {"operator_id": operator_id}))


def waiting(tx: Tx, line_id: str, limit: int) -> list[int]:
    return [int(r[0]) for r in tx.rows(tx.q.waiting_on_line, {"line_id": line_id, "limit": limit})]


def offered_to(tx: Tx, dialog_id: int) -> list[str]:
    return [r[0] for r in tx.rows(tx.q.offers_of_dialog, {"dialog_id": dialog_id})]


def members(tx: Tx, dialog_id: int) -> list[str]:
    return [r[0] for r in tx.rows(tx.q.members_of_dialog, {"dialog_id": dialog_id})]


def held_counts(tx: Tx) -> dict[str, int]:
    """Dialogs offered to or held by each operator, counted from the dialogs themselves."""
    return {r[0]: int(r[1]) for r in tx.rows(tx.q.held_counts, {})}
