"""Operators: presence, shift, capacity and name."""

from __future__ import annotations

from collections.abc import Awaitable

from omniline.console import access
from omniline.console.endpoints import ApiError, Call, not_found
from omniline.console.handlers.common import Context
from omniline.console.schemas import OperatorPatch, OperatorView, Page, ShiftBody
from omniline.errors import OmnilineError
from omniline.model import Presence, Shift


class OperatorPage(Page[OperatorView]):
    pass


class OperatorEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _operator_view(self, operator_id: str) -> OperatorView:
        store = self.ctx.host.store
        operator = await store.operators.get(operator_id)
        if operator is None:
            raise not_found(f"operator {operator_id!r}")
        lines = await store.operators.lines_of(operator_id)
        return OperatorView(**operator.model_dump(), lines=lines)

    async def list_operators(self, call: Call) -> OperatorPage:
        lines = await self.ctx.queues()
        return OperatorPage(
            items=[
                OperatorView(**operator.model_dump(), lines=lines.get(operator.id, []))
                for operator in await self.ctx.host.store.operators.all()
            ]
        )

    async def get_operator(self, call: Call) -> OperatorView:
        return await self._operator_view(call.path("operator_id"))

    async def update_operator(self, call: Call) -> OperatorView:
        operator_id = call.path("operator_id")
        await self._operator_view(operator_id)
        body = call.body_as(OperatorPatch)
        await self.ctx.access.may_manage(call.account, operator_id)
        changes = body.model_dump(exclude_unset=True)
        access.may_change_profile(call.account, changes)
        host = self.ctx.host
        if "capacity" in changes:
            await host.operators.set_capacity(operator_id, body.capacity)
        if body.name is not None:
            await host.rename_operator(operator_id, body.name)
        if body.presence is not None:
            await host.operators.set_presence(operator_id, body.presence)
        return await self._operator_view(operator_id)

    async def shift(self, call: Call) -> OperatorView:
        operator_id = call.path("operator_id")
        await self._operator_view(operator_id)
        await self.ctx.access.may_manage(call.account, operator_id)
        operators = self.ctx.host.operators
        action = call.body_as(ShiftBody).action
        current = await operators.get(operator_id)
        if action == "start":
            await operators.set_presence(operator_id, Presence.ONLINE)
            if current.shift is not Shift.WORKING:
                await operators.start_day(operator_id)
        elif action == "break":
            await _in_turn(operators.take_break(operator_id))
        elif action == "resume":
            await _in_turn(operators.resume(operator_id))
        else:
            await operators.finish_day(operator_id)
            await operators.set_presence(operator_id, Presence.OFFLINE)
        return await self._operator_view(operator_id)


async def _in_turn(step: Awaitable[object]) -> None:
    """A shift step out of turn (a break when not working) is a conflict with the state."""
    try:
        await step
    except OmnilineError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
