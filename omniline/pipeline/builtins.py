"""The built-in middlewares, one function each; their order is ``BUILTIN_ORDER``."""

from __future__ import annotations

import logging

from omniline.engine.contacts import contact_details
from omniline.engine.crm_jobs import sync_job
from omniline.engine.distribution import AUTO_CLOSE_TIMER, render_text, route_actions
from omniline.engine.lifecycle import Transition, transition
from omniline.engine.ports import (
    FieldsAction,
    LogAction,
    ProfileAction,
    TimerAction,
)
from omniline.engine.rating import score_of
from omniline.engine.rendering import button_for_reply, fill_parts
from omniline.model import (
    Closed,
    DialogStatus,
    HandedOff,
    InboundEvent,
    OutboundMessage,
    Queued,
    Rated,
)
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


async def contacts(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    settings = ctx.line.settings
    if settings.collect_contacts and _may_hold_contacts(event):
        found = contact_details(event.message, settings.default_region)
        if found:
            ctx.actions.append(
                ProfileAction(
                    fields=found, message_id=ctx.receipt.message_id, link=settings.link_clients
                )
            )
    await call_next(event, ctx)


def _may_hold_contacts(event: InboundEvent) -> bool:
    """A cheap look before the costly parse: most messages have no number or email in them."""
    message = event.message
    if message.contact is not None:
        return True
    text = message.text or ""
    return "@" in text or sum(c.isdigit() for c in text) >= 6


async def crm(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    # A new dialog, or contact details given: the CRM is to learn about the client, as a job
    # stored with the message (the CRM never holds up the conversation).
    if ctx.line.crm and ctx.line.settings.crm_check:
        gave = any(isinstance(a, ProfileAction) for a in ctx.actions)
        if ctx.receipt.opened or gave:
            dialog = ctx.dialog
            ctx.actions.append(sync_job(dialog.client_id, ctx.line.id, dialog.id, ctx.now))
    await call_next(event, ctx)


async def rating(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    dialog = ctx.dialog
    if dialog.status is DialogStatus.CLOSED and dialog.awaiting_rating:
        score = score_of(event.message, dialog.pending_buttons)
        if score is not None:
            settings = ctx.line.settings
            ctx.actions.append(FieldsAction(rating=score, awaiting_rating=False))
            ctx.actions.append(LogAction(event=Rated(at=ctx.now, actor="client", score=score)))
            if settings.rating.thanks is not None:
                text = render_text(settings.rating.thanks, dialog, ctx.line.name)
                ctx.send(OutboundMessage(text=text), author="system")
            return
    await call_next(event, ctx)


async def welcome(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    text = ctx.line.settings.welcome
    if ctx.receipt.opened and text is not None:
        ctx.send(
            OutboundMessage(text=render_text(text, ctx.dialog, ctx.line.name)), author="system"
        )
    await call_next(event, ctx)


async def operator_gate(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
    # Only a dialog that is with the bot goes on: one a human holds never reaches the bot, and
    # neither does one closed between the message's arrival and its turn here.
    dialog = ctx.dialog
    if dialog.status is DialogStatus.BOT:
        await call_next(event, ctx)
        return
    if dialog.status is DialogStatus.QUEUED and dialog.route is None:
        # Opened (or reopened) in the queue, on a line without a bot: to an operator now.
        ctx.actions.append(LogAction(event=Queued(at=ctx.now, actor="system")))
        await _route(ctx)
    elif dialog.status is DialogStatus.ACTIVE and ctx.line.settings.auto_close_after is not None:
        # The client answered: the dialog is not left silent, whatever the timer said.
        key = str(dialog.id)
        ctx.actions.append(TimerAction(kind=AUTO_CLOSE_TIMER, key=key, due_at=None))


async def _route(ctx: MessageContext) -> None:
    line = ctx.line
    prefer: tuple[str, ...] = ()
    lookup = line.responsible_manager
    if lookup is not None:
        # Contact details given in this very message are not stored yet: the lookup gets them
        # on the dialog's identity.
        given = [a.fields for a in ctx.actions if isinstance(a, ProfileAction)]
        dialog = ctx.dialog
        if given:
            profile = {**dialog.identity.profile}
            for fields in given:
                profile.update({k: v for k, v in fields.items() if k not in profile})
            identity = dialog.identity.model_copy(update={"profile": profile})
            dialog = dialog.model_copy(update={"identity": identity})
        try:
            manager = await lookup(dialog)
        except Exception:
            log.exception("the responsible-manager lookup failed; routing by the queue")
            manager = None
        outside = line.settings.responsible_outside_queue
        if manager is not None and (outside or manager in line.settings.queue):
            prefer = (manager,)
    queued = ctx.dialog.model_copy(update={"status": DialogStatus.QUEUED})
    actions = route_actions(line.settings, line.id, line.name, queued, ctx.now, prefer=prefer)
    ctx.actions.extend(fill_parts(actions, ctx.capabilities))


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


def _transition(ctx: MessageContext, which: Transition) -> None:
    action = transition(ctx.dialog.status, which)
    ctx.actions.append(action)
    ctx.dialog = ctx.dialog.model_copy(update={"status": action.status})


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
        await _route(ctx)
    ctx.handoff_requested = ctx.close_requested = False
    await call_next(event, ctx)


BUILTINS: dict[str, Middleware] = {
    "errors": errors,
    "dialog": dialog,
    "contacts": contacts,
    "crm": crm,
    "rating": rating,
    "welcome": welcome,
    "operator_gate": operator_gate,
    "human_request": human_request,
    "bot": bot,
    "handoff": handoff,
}
