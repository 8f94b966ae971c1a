"""The distributor's rules as pure code: what to do with a dialog that needs an operator.

``route_actions`` turns a line's settings, the dialog and the time into dialog actions: outside
working hours, the off-hours reply and a timer for the opening; inside, a :class:`RoutePlan` that
the store carries out atomically, by the strategy of the line's distribution mode. The texts a line
sends by itself are rendered here too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from omniline.engine.ports import (
    DialogAction,
    FieldsAction,
    LogAction,
    RouteAction,
    RoutePlan,
    SendAction,
    TimerAction,
)
from omniline.engine.settings import LineSettings, NobodyAnswered, OffHours
from omniline.engine.texts import LocalizedText
from omniline.model import Dialog, OutboundMessage, Route

ROUTE_TIMER = "route"
"""Routes a dialog queued outside working hours when the line opens."""
OFFER_TIMER = "offer"
"""Moves an offered dialog on when the operator does not accept in time."""
AUTO_CLOSE_TIMER = "auto_close"
"""Closes a dialog the client left silent after an operator's answer."""


def language_of(dialog: Dialog) -> str | None:
    profile = dialog.identity.profile
    return profile.get("language") or profile.get("language_code")


def render_text(
    text: LocalizedText,
    dialog: Dialog,
    line_name: str,
    operator_name: str | None = None,
) -> str:
    return text.render(
        language_of(dialog),
        {
            "client_name": dialog.identity.display_name,
            "operator_name": operator_name,
            "line_name": line_name,
        },
    )


def system_text(text: str) -> SendAction:
    """A text the line sends by itself. ``parts`` is filled in by the caller's channel rules."""
    return SendAction(author="system", message=OutboundMessage(text=text), parts=())


def offer_due(settings: LineSettings, now: datetime) -> datetime:
    """When an offer made now times out: the response timeout, in working time if the line has
    working hours (an offer made just before closing waits for the operator until after the
    opening)."""
    hours = settings.working_hours
    if hours is None:
        return now + timedelta(seconds=settings.response_timeout)
    return hours.after_working_time(now, settings.response_timeout)


def plan_for(
    settings: LineSettings,
    line_id: str,
    *,
    now: datetime | None = None,
    prefer: tuple[str, ...] = (),
    when_exhausted: tuple[SendAction | LogAction, ...] = (),
) -> RoutePlan:
    return RoutePlan(
        offer_due=offer_due(settings, now) if now is not None else None,
        line_id=line_id,
        distribution=settings.distribution,
        default_capacity=settings.default_capacity,
        only_online=settings.only_online,
        only_working=settings.only_working,
        timeout=settings.response_timeout,
        prefer=prefer,
        return_within=settings.return_within if settings.return_to_last_operator else None,
        circulate=settings.nobody_answered is NobodyAnswered.CIRCULATE,
        when_exhausted=when_exhausted,
    )


def exhausted_text(settings: LineSettings) -> LocalizedText | None:
    """What the client is told once the whole queue was tried and nobody answered."""
    if settings.nobody_answered is NobodyAnswered.TEXT:
        return settings.nobody_answered_text
    if settings.nobody_answered is NobodyAnswered.FORM:
        return settings.contact_form_text
    return None


def off_hours_text(settings: LineSettings) -> LocalizedText | None:
    if settings.off_hours is OffHours.TEXT:
        return settings.off_hours_text
    if settings.off_hours is OffHours.FORM:
        return settings.contact_form_text
    return None


def route_actions(
    settings: LineSettings,
    line_id: str,
    line_name: str,
    dialog: Dialog,
    now: datetime,
    *,
    prefer: tuple[str, ...] = (),
) -> list[DialogAction]:
    """What to do now with ``dialog`` (queued, or about to be) so that an operator gets it."""
    hours = settings.working_hours
    if hours is not None and not hours.is_open(now):
        actions: list[DialogAction] = []
        if dialog.route is not Route.HOURS:  # tell the client once, not at every message
            text = off_hours_text(settings)
            if text is not None:
                actions.append(system_text(render_text(text, dialog, line_name)))
            actions.append(FieldsAction(route=Route.HOURS.value))
        opens = hours.next_open(now)
        actions.append(TimerAction(kind=ROUTE_TIMER, key=str(dialog.id), due_at=opens))
        return actions
    exhausted: tuple[SendAction | LogAction, ...] = ()
    text = exhausted_text(settings)
    if text is not None:
        exhausted = (system_text(render_text(text, dialog, line_name)),)
    plan = plan_for(settings, line_id, now=now, prefer=prefer, when_exhausted=exhausted)
    return [RouteAction(plan=plan)]
