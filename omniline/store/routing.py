"""Who holds a dialog, decided in the database: status moves that keep operators' loads in step,
and the distributor's offer of a queued dialog.

The store knows no distribution mode by name: the line's strategy
(``omniline.engine.distribution``) says which index to read the queue from, how many operators, in
what order to offer and whether to take the first with room or offer to everyone; this module runs
the statements for that.

The rule that makes assignment safe across worker processes: an operator's ``load`` (dialogs
offered to them alone or held by them) is raised only by ``operator_take``, one UPDATE whose WHERE
clause checks the capacity (and availability) on the row as it is at that instant, and the dialog
moves only by an UPDATE guarded by its expected status and holder. Both run in one transaction, so
either the operator has room and the dialog was still where it was, or nothing changes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from omniline.engine.distribution import (
    CANDIDATES,
    OFFER_TIMER,
    Candidate,
    Order,
    Reach,
    Strategy,
    strategy_for,
)
from omniline.engine.lifecycle import Transition, next_status
from omniline.engine.ports import (
    DialogAction,
    LogAction,
    RoutePlan,
    StatusAction,
    TimerAction,
)
from omniline.errors import DialogConflict, OperatorBusy
from omniline.model import DialogStatus, Offered, Route
from omniline.store.executor import Tx
from omniline.store.statements import Query, Statements

HOLDING = frozenset({DialogStatus.OFFERED.value, DialogStatus.ACTIVE.value})


def _holds(status: str, operator_id: str | None) -> bool:
    return operator_id is not None and status in HOLDING


def take(
    tx: Tx, operator_id: str, capacity: int, *, any_presence: bool = True, any_shift: bool = True
) -> bool:
    """Raise ``operator_id``'s load by one if they have room (and are available as asked)."""
    params = {
        "operator_id": operator_id,
        "capacity": capacity,
        "any_presence": int(any_presence),
        "any_shift": int(any_shift),
    }
    if tx.first(tx.q.operator_take, params) is None:
        return False
    tx.run(tx.q.refresh_ready, {"operator_id": operator_id})
    return True


def move(tx: Tx, dialog_id: int, action: StatusAction, at: float) -> None:
    """Apply a status move, keeping the loads of the old and new holder right."""
    q = tx.q
    row = tx.first(q.dialog_state, {"dialog_id": dialog_id})
    if row is None or row["status"] != action.expected.value:
        now = row["status"] if row is not None else "gone"
        raise DialogConflict(f"dialog {dialog_id} is {now}, no longer {action.expected.value}")
    old_operator: str | None = row["operator_id"]
    requeued = action.status is DialogStatus.QUEUED and not action.new_round
    _move(
        tx,
        dialog_id,
        old_status=row["status"],
        old_operator=old_operator,
        status=action.status.value,
        operator_id=action.operator_id,
        capacity=action.capacity,
        at=at,
        tried=row["tried"] if requeued else None,
        hop=1 if action.counts_as_offer else 0,
    )


def _move(
    tx: Tx,
    dialog_id: int,
    *,
    old_status: str,
    old_operator: str | None,
    status: str,
    operator_id: str | None,
    capacity: int,
    at: float,
    hop: int = 0,
    route: str | None = None,
    tried: str | None = None,
) -> None:
    q = tx.q
    held, holds = _holds(old_status, old_operator), _holds(status, operator_id)
    keeps = held and holds and old_operator == operator_id
    if holds and not keeps:
        assert operator_id is not None
        if not take(tx, operator_id, capacity):
            raise OperatorBusy(f"operator {operator_id} has no room for another dialog")
    _set_status(
        tx,
        dialog_id,
        expected=(old_status, old_operator),
        status=status,
        operator_id=operator_id,
        closed_at=at if status == DialogStatus.CLOSED.value else None,
        hop=hop,
        route=route,
        tried=tried,
    )
    if held and not keeps:
        tx.run(q.operator_release, {"operator_id": old_operator})
        tx.run(q.refresh_ready, {"operator_id": old_operator})
    if old_status == DialogStatus.OFFERED.value and old_operator is None:
        tx.run(q.offers_delete, {"dialog_id": dialog_id})


def _set_status(
    tx: Tx,
    dialog_id: int,
    *,
    expected: tuple[str, str | None],
    status: str,
    operator_id: str | None,
    closed_at: float | None,
    hop: int,
    route: str | None,
    tried: str | None,
) -> None:
    """Update the dialog if it still has the ``expected`` status and holder, else raise
    ``DialogConflict`` (and the transaction rolls back whole)."""
    changed = tx.run(
        tx.q.dialog_set_status,
        {
            "dialog_id": dialog_id,
            "expected": expected[0],
            "expected_operator": expected[1] or "",
            "status": status,
            "operator_id": operator_id,
            "closed_at": closed_at,
            "hop": hop,
            "route": route,
            "tried": tried,
        },
    )
    if changed != 1:
        raise DialogConflict(f"dialog {dialog_id} changed meanwhile; another action came first")


def route(tx: Tx, dialog_id: int, plan: RoutePlan, now: datetime) -> list[DialogAction]:
    """Offer a queued dialog by ``plan``. Returns what must follow in the same transaction (the
    log entry, the response timer, or the plan's "nobody answered" actions)."""
    q = tx.q
    row = tx.first(q.dialog_state, {"dialog_id": dialog_id})
    if row is None or row["status"] != DialogStatus.QUEUED.value:
        return []  # someone took it meanwhile: nothing to route
    client_id, last_holder, hops = row["client_id"], row["operator_id"], row["hops"]
    tried: list[str] = json.loads(row["tried"]) if row["tried"] else []
    at = now.timestamp()
    state = _State(tx, dialog_id, plan, now, last_holder, hops, tried)

    preferred = list(plan.prefer)
    if last_holder is not None:
        preferred.append(last_holder)  # a reopened dialog goes back to whoever held it
    if plan.return_within is not None:
        found = tx.first(
            q.last_operator_of_client,
            {"client_id": client_id, "line_id": plan.line_id, "since": at - plan.return_within},
        )
        if found is not None:
            preferred.append(found["operator_id"])
    for operator_id in dict.fromkeys(preferred):
        if operator_id not in tried and state.available(operator_id):
            return state.offer(operator_id)

    strategy = strategy_for(plan.distribution)
    for circling in (False, True):
        offered = state.by_strategy(strategy)
        if offered is not None:
            return offered
        if (plan.only_online or plan.only_working) and not state.anyone_available():
            # Nobody available: offered by queue order all the same, to stay with whoever is next
            # until someone becomes available (Bitrix24's rule, whatever the mode).
            for candidate in state.candidates(Order.POSITION, anyone=True):
                if take(tx, candidate.operator_id, plan.default_capacity):
                    return state.offer(candidate.operator_id, parked=True)
        if not state.tried or not state.everyone_tried():
            return state.wait(Route.WAITING)  # some could not take it now (full, away): wait
        if circling or not plan.circulate:
            break
        state.tried = []  # a new round from the top of the queue
    actions = state.wait(Route.EXHAUSTED)
    return actions + list(plan.when_exhausted)


def _queue_in(order: Order, q: Statements, *, ready: bool) -> Query:
    """The statement that reads a line's queue in ``order``: only the ready operators (online,
    working, with room), from a partial index over them, or those with room, their availability
    checked as the parameters ask."""
    match order:
        case Order.POSITION:
            return q.ready_by_position if ready else q.candidates_by_position
        case Order.RECEIVED:
            return q.ready_by_received if ready else q.candidates_by_received


class _State:
    """One routing decision in progress."""

    def __init__(
        self,
        tx: Tx,
        dialog_id: int,
        plan: RoutePlan,
        now: datetime,
        last_holder: str | None,
        hops: int,
        tried: list[str],
    ) -> None:
        self.tx = tx
        self.dialog_id = dialog_id
        self.plan = plan
        self.now = now
        self.last_holder = last_holder
        self.hops = hops
        self.tried = tried

    def available(self, operator_id: str) -> bool:
        plan = self.plan
        return take(
            self.tx,
            operator_id,
            plan.default_capacity,
            any_presence=not plan.only_online,
            any_shift=not plan.only_working,
        )

    def by_strategy(self, strategy: Strategy) -> list[DialogAction] | None:
        """Offer as the line's mode says, or None if nobody in the queue could be offered it."""
        limit = strategy.limit(len(self.tried))
        chosen = strategy.rank(self.candidates(strategy.order, limit=limit))
        if strategy.reach is Reach.EVERYONE:
            return self.offer_all(chosen) if chosen else None
        for operator_id in chosen:
            if self.available(operator_id):
                return self.offer(operator_id)
        return None

    def candidates(
        self, order: Order, *, anyone: bool = False, limit: int | None = None
    ) -> list[Candidate]:
        """Up to ``limit`` operators of the line's queue with room (and available unless
        ``anyone``) in ``order``, without those tried in this round."""
        plan = self.plan
        q = self.tx.q
        if limit is None:
            limit = len(self.tried) + CANDIDATES
        if not anyone and plan.only_online and plan.only_working:
            # The usual rules: the ready operators come straight from an index, however many
            # busy or absent ones stand before them in the queue.
            self._line_capacity()
            query = _queue_in(order, q, ready=True)
            rows = self.tx.rows(query, {"line_id": plan.line_id, "limit": limit})
        else:
            query = _queue_in(order, q, ready=False)
            rows = self.tx.rows(
                query,
                {
                    "line_id": plan.line_id,
                    "capacity": plan.default_capacity,
                    "any_presence": int(anyone or not plan.only_online),
                    "any_shift": int(anyone or not plan.only_working),
                    "limit": limit,
                },
            )
        if query.columns != Candidate._fields:
            raise TypeError(f"{query.columns} are not a candidate's columns {Candidate._fields}")
        # The columns are the candidate's fields, in order, so each row is taken whole, without a
        # look-up per column: up to a thousand rows a decision in "offer to everyone" modes.
        tried = self.tried
        found = (Candidate._make(row.values()) for row in rows)
        return [c for c in found if c.operator_id not in tried]

    def _line_capacity(self) -> None:
        """Readiness counts with the line's default capacity as the plan has it (it may have been
        changed at run time): bring the line's rows up to date if it differs, once."""
        tx, plan = self.tx, self.plan
        row = tx.first(tx.q.line_capacity, {"line_id": plan.line_id})
        if row is not None and int(row["line_capacity"]) != plan.default_capacity:
            tx.run(tx.q.refresh_line, {"line_id": plan.line_id, "capacity": plan.default_capacity})

    def anyone_available(self) -> bool:
        """Whether someone in the queue is available at all (room or not)."""
        plan = self.plan
        found = self.tx.first(
            self.tx.q.queue_has_available,
            {
                "line_id": plan.line_id,
                "any_presence": int(not plan.only_online),
                "any_shift": int(not plan.only_working),
            },
        )
        return found is not None

    def everyone_tried(self) -> bool:
        queue = self.tx.rows(
            self.tx.q.queue_in_order,
            {"line_id": self.plan.line_id, "limit": len(self.tried) + 1},
        )
        return all(r["operator_id"] in self.tried for r in queue)

    def offer(self, operator_id: str, *, parked: bool = False) -> list[DialogAction]:
        """Offer to ``operator_id``, whose load ``take`` has raised already."""
        tx, plan = self.tx, self.plan
        hop = self.hops + 1
        tried = json.dumps([*self.tried, operator_id])
        self._set(
            status=next_status(DialogStatus.QUEUED, Transition.OFFER).value,
            operator_id=operator_id,
            hop=1,
            route=Route.PARKED.value if parked else None,
            tried=tried,
        )
        tx.run(tx.q.queue_received, {"line_id": plan.line_id, "operator_id": operator_id})
        actions: list[DialogAction] = [
            LogAction(
                event=Offered(
                    at=self.now, actor="system", operator_ids=(operator_id,), hop=hop, parked=parked
                )
            )
        ]
        if not parked:
            actions.append(self._timer({"operator": operator_id, "hop": hop}))
        return actions

    def offer_all(self, operator_ids: list[str]) -> list[DialogAction]:
        tx = self.tx
        hop = self.hops + 1
        self._set(
            status=next_status(DialogStatus.QUEUED, Transition.OFFER).value,
            operator_id=None,
            hop=1,
            route=None,
            tried=json.dumps([*self.tried, *operator_ids]),
        )
        at = self.now.timestamp()
        for operator_id in operator_ids:
            tx.run(
                tx.q.offer_insert,
                {"dialog_id": self.dialog_id, "operator_id": operator_id, "now": at},
            )
            tx.run(tx.q.queue_received, {"line_id": self.plan.line_id, "operator_id": operator_id})
        return [
            LogAction(
                event=Offered(
                    at=self.now, actor="system", operator_ids=tuple(operator_ids), hop=hop
                )
            ),
            self._timer({"operator": None, "hop": hop}),
        ]

    def wait(self, route: Route) -> list[DialogAction]:
        tried = json.dumps(self.tried) if self.tried else None
        self._set(
            status=DialogStatus.QUEUED.value,
            operator_id=self.last_holder,
            hop=0,
            route=route.value,
            tried=tried,
        )
        return []

    def _set(
        self,
        *,
        status: str,
        operator_id: str | None,
        hop: int,
        route: str | None,
        tried: str | None,
    ) -> None:
        """Move the dialog, still queued as this decision found it."""
        _set_status(
            self.tx,
            self.dialog_id,
            expected=(DialogStatus.QUEUED.value, self.last_holder),
            status=status,
            operator_id=operator_id,
            closed_at=None,
            hop=hop,
            route=route,
            tried=tried,
        )

    def _timer(self, data: dict[str, str | int | None]) -> TimerAction:
        due = self.plan.offer_due or self.now + timedelta(seconds=self.plan.timeout)
        return TimerAction(kind=OFFER_TIMER, key=str(self.dialog_id), due_at=due, data=data)
