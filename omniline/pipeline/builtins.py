"""The built-in middlewares, one function each; their order is ``BUILTIN_ORDER``."""

from __future__ import annotations

import logging

from omniline.channels.degrade import button_for_reply
from omniline.engine.lifecycle import Transition, next_status
from omniline.engine.ports import LogAction, StatusAction
from omniline.model import Closed, DialogStatus, HandedOff, InboundEvent, Queued
from omniline.pipeline.context import MessageContext
from omniline.pipeline.middleware import Middleware, Next

log = logging.getLogger("omniline.pipeline")


async def errors(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    try:
        await call_next(event, ctx)
    except Exception as exc:
        log.exception(
            "bot handler failed on line %s, dialog %s, event %s",
            ctx.line.id,
            ctx.dialog.id,
            event.event_id,
        )
        ctx.actions.clear()  # nothing half done: what the handler recorded is dropped
        ctx.close_requested = ctx.handoff_requested = False
        ctx.state["error"] = f"{type(exc).__name__}: {exc}"
        if ctx.line.handoff_on_bot_error and ctx.dialog.status is DialogStatus.BOT:
            ctx.handoff(reason="bot error")
            await handoff(_noop, event, ctx)


async def _noop(event: InboundEvent, ctx: MessageContext) -> None:
    return None


async def dialog(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    message = event.message
    if ctx.dialog.pending_buttons and message.text and message.button_payload is None:
        button = button_for_reply(ctx.dialog.pending_buttons, message.text)
        if button is not None:
            pressed = message.model_copy(update={"button_payload": button.payload})
            event = event.model_copy(update={"message": pressed})
            ctx.event = event
    await call_next(event, ctx)


async def operator_gate(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    # Only a dialog that is with the bot goes on: one a human holds never reaches the bot, and
    # neither does one closed between the message's arrival and its turn here.
    if ctx.dialog.status is not DialogStatus.BOT:
        return
    await call_next(event, ctx)


async def human_request(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    if ctx.line.wants_human(event.message.text, event.message.button_payload):
        ctx.handoff(reason="client asked for an operator")
        await handoff(_noop, event, ctx)
        return
    await call_next(event, ctx)


async def bot(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    router = ctx.line.bot
    handled = await router.dispatch(ctx) if router is not None else False
    if not handled and ctx.line.handoff_when_unhandled:
        ctx.handoff(reason="no bot handler for the message")
    await call_next(event, ctx)


def _transition(ctx: MessageContext, transition: Transition) -> None:
    status = next_status(ctx.dialog.status, transition)
    ctx.actions.append(StatusAction(expected=ctx.dialog.status, status=status))
    ctx.dialog = ctx.dialog.model_copy(update={"status": status})


async def handoff(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    now = ctx.now
    if ctx.close_requested and ctx.dialog.status is not DialogStatus.CLOSED:
        _transition(ctx, Transition.CLOSE)
        ctx.actions.append(LogAction(event=Closed(at=now, actor="bot", reason=ctx.close_reason)))
    elif ctx.handoff_requested and ctx.dialog.status is DialogStatus.BOT:
        _transition(ctx, Transition.HANDOFF)
        ctx.actions.append(
            LogAction(event=HandedOff(at=now, actor="bot", reason=ctx.handoff_reason))
        )
        ctx.actions.append(LogAction(event=Queued(at=now, actor="system")))
    ctx.handoff_requested = ctx.close_requested = False
    await call_next(event, ctx)


BUILTINS: dict[str, Middleware] = {
    "errors": errors,
    "dialog": dialog,
    "operator_gate": operator_gate,
    "human_request": human_request,
    "bot": bot,
    "handoff": handoff,
}
