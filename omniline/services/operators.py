"""Operators at run time: presence, shift and capacity, shared by every worker through the store.

Whenever an operator can take more than before (comes online, starts the day, returns from a
break, gets a bigger capacity), the dialogs waiting on their lines are given out at once.
"""

from __future__ import annotations

from omniline.engine.ports import UNSET, Unset
from omniline.errors import OmnilineError
from omniline.model import Operator, Presence, Shift
from omniline.services.dialogs import Dialogs
from omniline.store.sql_store import SqlStore


class Operators:
    def __init__(self, store: SqlStore, dialogs: Dialogs) -> None:
        self._store = store
        self._dialogs = dialogs

    async def get(self, operator_id: str) -> Operator:
        found = await self._store.operators.get(operator_id)
        if found is None:
            raise OmnilineError(f"no operator {operator_id!r}")
        return found

    async def all(self) -> list[Operator]:
        return await self._store.operators.all()

    async def _set(
        self,
        operator_id: str,
        *,
        presence: Presence | None = None,
        shift: Shift | None = None,
        capacity: int | Unset | None = UNSET,
    ) -> Operator:
        before = await self.get(operator_id)
        after = await self._store.operators.update(
            operator_id, presence=presence, shift=shift, capacity=capacity
        )
        more_room = (before.capacity or 0) < (after.capacity or 0) or (
            before.capacity is not None and after.capacity is None
        )
        if after.presence is not before.presence or after.shift is not before.shift or more_room:
            self._dialogs.pick_up(operator_id)
        return after

    async def set_presence(self, operator_id: str, presence: Presence | str) -> Operator:
        """Online or offline (the desk sets this as operators connect and leave)."""
        return await self._set(operator_id, presence=Presence(presence))

    async def start_day(self, operator_id: str) -> Operator:
        """ "Start working": the operator's shift begins."""
        return await self._set(operator_id, shift=Shift.WORKING)

    async def take_break(self, operator_id: str) -> Operator:
        operator = await self.get(operator_id)
        if operator.shift is not Shift.WORKING:
            raise OmnilineError(f"operator {operator_id} is not working, so cannot take a break")
        return await self._set(operator_id, shift=Shift.BREAK)

    async def resume(self, operator_id: str) -> Operator:
        """Back from a break."""
        operator = await self.get(operator_id)
        if operator.shift is not Shift.BREAK:
            raise OmnilineError(f"operator {operator_id} is not on a break")
        return await self._set(operator_id, shift=Shift.WORKING)

    async def finish_day(self, operator_id: str) -> Operator:
        """ "Finish": no new dialogs until the next start; open ones stay with the operator."""
        return await self._set(operator_id, shift=Shift.NOT_STARTED)

    async def set_capacity(self, operator_id: str, capacity: int | None) -> Operator:
        """Most open dialogs for this operator (None: each line's default)."""
        return await self._set(operator_id, capacity=capacity)
