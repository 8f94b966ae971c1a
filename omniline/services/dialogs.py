"""Actions on a dialog from the business side (operators, timers, code), serialized with its
messages: accept, skip, transfer, invite, whisper, reply, pin, close, reopen, hand back to the bot,
and the distributor's own moves (offer timeouts, auto-close, routing when someone frees up).

Each action reads the dialog, decides with the engine's rules, and applies the result in one
transaction that fails whole if the dialog moved meanwhile.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from omniline.engine.crm_jobs import responsible_job, transcript_job
from omniline.engine.distribution import (
    AUTO_CLOSE_TIMER,
    OFFER_TIMER,
    offer_due,
    render_text,
    route_actions,
    system_text,
)
from omniline.engine.lifecycle import Transition, transition
from omniline.engine.ports import (
    Capabilities,
    Clock,
    Delivery,
    DialogAction,
    FieldsAction,
    LogAction,
    MemberAction,
    SendAction,
    StatusAction,
    TimerAction,
)
from omniline.engine.rating import rating_question
from omniline.engine.rendering import fill_parts
from omniline.errors import DialogConflict, DialogError
from omniline.log_context import log_context, log_fields
from omniline.model import (
    Accepted,
    BackToBot,
    ChannelRef,
    Closed,
    Dialog,
    DialogStatus,
    HandedOff,
    Invited,
    Offered,
    OutboundMessage,
    Pinned,
    Queued,
    Reopened,
    Route,
    Skipped,
    Transferred,
    Unpinned,
    Visibility,
    Whispered,
    Withdrawn,
)
from omniline.pipeline.line import Line
from omniline.pipeline.serializer import KeyedSerializer
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.dialogs")

Decide = Callable[[Dialog], Sequence[DialogAction] | Awaitable[Sequence[DialogAction]]]
"""Turns the dialog as it is now into the actions to apply (may read the store first)."""

ACTIVE, OFFERED, QUEUED, CLOSED = (
    DialogStatus.ACTIVE,
    DialogStatus.OFFERED,
    DialogStatus.QUEUED,
    DialogStatus.CLOSED,
)


def operator_actor(operator_id: str) -> str:
    return f"operator:{operator_id}"


class Dialogs:
    """Operator-side actions. Each one is one transaction, run in turn with the dialog's messages."""

    def __init__(
        self,
        store: SqlStore,
        *,
        clock: Clock,
        serializer: KeyedSerializer,
        capabilities: Callable[[ChannelRef], Capabilities],
        deliver: Callable[[list[Delivery]], None],
        lines: Mapping[str, Line] | None = None,
        operator_names: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._serializer = serializer
        self._capabilities = capabilities
        self._deliver = deliver
        self._lines = lines or {}
        self._names = operator_names or {}
        self.crm = False
        """Whether a CRM is configured: closes and transfers then call for CRM jobs."""

    # --- reading ----------------------------------------------------------------------------------

    async def get(self, dialog_id: int) -> Dialog:
        dialog = await self._store.dialogs.get(dialog_id)
        if dialog is None:
            raise DialogError(f"no dialog {dialog_id}")
        return dialog

    def line(self, line_id: str) -> Line:
        line = self._lines.get(line_id)
        if line is None:
            raise DialogError(f"no line {line_id!r}")
        return line

    # --- the machinery ----------------------------------------------------------------------------

    async def _act(
        self, dialog_id: int, decide: Decide, known: Dialog | None = None
    ) -> list[Delivery]:
        """Decide on the dialog and apply, in the dialog's turn. ``known``: the dialog as the
        caller just read it, decided on without reading it again; the store refuses the result if
        the dialog moved since (status, holder, line or offer), and then it is decided again on
        the dialog as it is."""

        async def attempt(dialog: Dialog) -> list[Delivery]:
            with log_context(line_id=dialog.line_id, channel=dialog.identity.channel):
                decided = decide(dialog)
                if inspect.isawaitable(decided):
                    decided = await decided
                actions = fill_parts(decided, self._capabilities(dialog.identity.channel))
                if not actions:
                    return []
                deliveries = await self._store.dialogs.apply(
                    dialog_id, actions, guard=dialog.status, known=dialog
                )
                self._deliver(deliveries)
                return deliveries

        operator = log_fields().get("operator_id")  # the caller's (an operator's API call)

        async def job() -> list[Delivery]:
            with log_context(fresh=True, dialog_id=dialog_id, operator_id=operator):
                if known is not None and known.id == dialog_id:
                    try:
                        return await attempt(known)
                    except DialogError:
                        pass  # refused on an older read, perhaps: decide on the dialog as it is
                return await attempt(await self.get(dialog_id))

        result: Any = await self._serializer.submit(dialog_id, job)
        deliveries: list[Delivery] = result
        return deliveries

    def _move(
        self,
        dialog: Dialog,
        which: Transition,
        operator_id: str | None,
    ) -> StatusAction:
        capacity = self.line(dialog.line_id).settings.default_capacity
        return transition(dialog.status, which, operator_id=operator_id, capacity=capacity)

    def _route(self, dialog: Dialog, line: Line | None = None) -> list[DialogAction]:
        line = line or self.line(dialog.line_id)
        return route_actions(line.settings, line.id, line.name, dialog, self._clock.now())

    def _released(self, dialog: Dialog) -> None:
        """The dialog's holder has room again: give them a waiting dialog."""
        if dialog.operator_id is not None and dialog.status in (OFFERED, ACTIVE):
            self.pick_up(dialog.operator_id)

    # --- operators' actions -----------------------------------------------------------------------

    async def accept(
        self, dialog_id: int, operator_id: str, *, known: Dialog | None = None
    ) -> None:
        """``operator_id`` takes the dialog and answers it from now on: one offered to them (or to
        all of the line's operators), or one waiting in the queue."""

        async def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            if dialog.status is OFFERED and dialog.operator_id not in (None, operator_id):
                raise DialogError(
                    f"dialog {dialog.id} is offered to operator {dialog.operator_id}, "
                    f"not to {operator_id}"
                )
            actions: list[DialogAction] = [self._move(dialog, Transition.ACCEPT, operator_id)]
            if dialog.status is OFFERED and dialog.operator_id is None:
                # Offered to several at once: who is read in the dialog's turn, only then.
                offered_to = await self._store.operators.offered_to(dialog_id)
                if operator_id not in offered_to:
                    raise DialogError(f"dialog {dialog.id} is not offered to {operator_id}")
                others = tuple(o for o in offered_to if o != operator_id)
                if others:
                    actions.append(
                        LogAction(event=Withdrawn(at=now, actor="system", operator_ids=others))
                    )
            actor = operator_actor(operator_id)
            actions.append(LogAction(event=Accepted(at=now, actor=actor, operator_id=operator_id)))
            return actions

        await self._act(dialog_id, decide, known)

    async def skip(self, dialog_id: int, operator_id: str, *, known: Dialog | None = None) -> None:
        """Pass on a dialog offered to ``operator_id``: it goes to the next operator."""
        await self._pass_on(
            dialog_id,
            operator_id,
            Transition.SKIP,
            reason="skip",
            actor=operator_actor(operator_id),
            known=known,
        )

    async def offer_timed_out(self, dialog_id: int, operator_id: str | None, hop: int) -> None:
        """The offer of ``hop`` was not accepted in time (fired by the offer timer)."""
        await self._pass_on(
            dialog_id, operator_id, Transition.TIMEOUT, reason="timeout", actor="system", hop=hop
        )

    async def _pass_on(
        self,
        dialog_id: int,
        operator_id: str | None,
        which: Transition,
        *,
        reason: str,
        actor: str,
        hop: int | None = None,
        known: Dialog | None = None,
    ) -> None:
        def decide(dialog: Dialog) -> list[DialogAction]:
            if hop is not None and (dialog.status is not OFFERED or dialog.hops != hop):
                return []  # that offer was answered, or moved on already
            if dialog.status is not OFFERED or dialog.operator_id != operator_id:
                raise DialogError(f"dialog {dialog.id} is not offered to {operator_id}")
            now = self._clock.now()
            move = self._move(dialog, which, None)
            actions: list[DialogAction] = [move]
            if operator_id is not None:
                event = Skipped(at=now, actor=actor, operator_id=operator_id, reason=reason)
                actions.append(LogAction(event=event))
            requeued = dialog.model_copy(update={"status": move.status, "operator_id": None})
            return actions + self._route(requeued)

        await self._act(dialog_id, decide, known)
        if operator_id is not None:
            self.pick_up(operator_id)

    async def transfer(
        self,
        dialog_id: int,
        operator_id: str,
        *,
        to_operator: str | None = None,
        to_line: str | None = None,
        known: Dialog | None = None,
    ) -> None:
        """Hand an active dialog to another operator (offered to them, who accepts it) or to
        another line's queue. The receiver sees the whole history."""
        if (to_operator is None) == (to_line is None):
            raise DialogError("transfer to exactly one of an operator or a line")
        if to_line is not None:
            await self._transfer_to_line(dialog_id, operator_id, to_line, known)
            return
        target = to_operator
        assert target is not None
        if await self._store.operators.get(target) is None:
            raise DialogError(f"no operator {target!r}")

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status not in (ACTIVE, OFFERED, QUEUED):
                raise DialogError(
                    f"dialog {dialog.id} is {dialog.status.value}: nothing to transfer"
                )
            if dialog.operator_id != operator_id and dialog.status is ACTIVE:
                raise DialogError(f"operator {operator_id} does not hold dialog {dialog.id}")
            if target == dialog.operator_id:
                raise DialogError(f"operator {target} holds dialog {dialog.id} already")
            now = self._clock.now()
            settings = self.line(dialog.line_id).settings
            hop = dialog.hops + 1
            # Offered to the colleague like any offer: if they do not accept in time, the
            # dialog goes back to the line's queue.
            return [
                self._move(dialog, Transition.TRANSFER, target),
                LogAction(
                    event=Transferred(
                        at=now,
                        actor=operator_actor(operator_id),
                        from_operator_id=dialog.operator_id,
                        to_operator_id=target,
                    )
                ),
                LogAction(event=Offered(at=now, actor="system", operator_ids=(target,), hop=hop)),
                *(
                    [responsible_job(dialog, target, now)]
                    if self.crm and settings.crm_reassign_on_transfer
                    else []
                ),
                TimerAction(
                    kind=OFFER_TIMER,
                    key=str(dialog.id),
                    due_at=offer_due(settings, now),
                    data={"operator": target, "hop": hop},
                ),
            ]

        before = known or await self.get(dialog_id)
        await self._act(dialog_id, decide, known)
        self._released(before)

    async def _transfer_to_line(
        self, dialog_id: int, operator_id: str, to_line: str, known: Dialog | None
    ) -> None:
        target = self.line(to_line)

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is not ACTIVE or dialog.operator_id != operator_id:
                raise DialogError(f"operator {operator_id} does not hold dialog {dialog.id}")
            if dialog.line_id == to_line:
                raise DialogError(f"dialog {dialog.id} is on line {to_line!r} already")
            now = self._clock.now()
            move = transition(dialog.status, Transition.TRANSFER_TO_LINE)
            requeued = dialog.model_copy(
                update={"status": move.status, "operator_id": None, "line_id": to_line, "tried": ()}
            )
            return [
                move,
                FieldsAction(line_id=to_line),
                LogAction(
                    event=Transferred(
                        at=now,
                        actor=operator_actor(operator_id),
                        from_operator_id=operator_id,
                        to_line_id=to_line,
                    )
                ),
                LogAction(event=Queued(at=now, actor="system")),
                *self._route(requeued, target),
            ]

        before = known or await self.get(dialog_id)
        await self._act(dialog_id, decide, known)
        self._released(before)

    async def invite(
        self, dialog_id: int, operator_id: str, colleague: str, *, known: Dialog | None = None
    ) -> None:
        """Bring ``colleague`` into the dialog beside its holder; both see and write in it."""
        if await self._store.operators.get(colleague) is None:
            raise DialogError(f"no operator {colleague!r}")

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is not ACTIVE or dialog.operator_id != operator_id:
                raise DialogError(f"operator {operator_id} does not hold dialog {dialog.id}")
            if colleague == operator_id:
                raise DialogError("an operator cannot invite themselves")
            now = self._clock.now()
            return [
                MemberAction(operator_id=colleague),
                LogAction(
                    event=Invited(at=now, actor=operator_actor(operator_id), operator_id=colleague)
                ),
            ]

        await self._act(dialog_id, decide, known)

    async def _in_dialog(self, dialog: Dialog, operator_id: str) -> None:
        """An operator acts on a dialog they hold, were invited into, or that is offered to them
        (a supervisor's code acts as ``system`` or with its own actor)."""
        if dialog.operator_id == operator_id:
            return
        if dialog.status is OFFERED and operator_id in await self._store.operators.offered_to(
            dialog.id
        ):
            return
        if operator_id in await self._store.operators.members(dialog.id):
            return
        raise DialogError(f"operator {operator_id} is not in dialog {dialog.id}")

    async def _may_write(self, dialog: Dialog, operator_id: str) -> None:
        if dialog.status is ACTIVE and dialog.operator_id == operator_id:
            return
        if dialog.status is ACTIVE and operator_id in await self._store.operators.members(
            dialog.id
        ):
            return
        raise DialogError(
            f"operator {operator_id} is not in dialog {dialog.id} ({dialog.status.value})"
        )

    async def reply(
        self,
        dialog_id: int,
        operator_id: str,
        content: str | OutboundMessage,
        *,
        known: Dialog | None = None,
    ) -> list[Delivery]:
        """Send the client a message as ``operator_id``, who holds the dialog or was invited."""
        message = OutboundMessage.of(content)

        async def decide(dialog: Dialog) -> list[DialogAction]:
            await self._may_write(dialog, operator_id)
            if dialog.status is not ACTIVE:
                raise DialogError(f"dialog {dialog.id} is {dialog.status.value}, not active")
            actions: list[DialogAction] = [
                SendAction(author=operator_actor(operator_id), message=message, parts=())
            ]
            after = self.line(dialog.line_id).settings.auto_close_after
            if after is not None:
                due = self._clock.now() + timedelta(seconds=after)
                key = str(dialog.id)
                actions.append(TimerAction(kind=AUTO_CLOSE_TIMER, key=key, due_at=due))
            return actions

        return await self._act(dialog_id, decide, known)

    async def whisper(
        self, dialog_id: int, operator_id: str, text: str, *, known: Dialog | None = None
    ) -> None:
        """A note among operators in the dialog. The client never sees it."""
        if not text.strip():
            raise DialogError("a whisper needs some text")

        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            return [
                SendAction(
                    author=operator_actor(operator_id),
                    message=OutboundMessage(text=text),
                    parts=(),
                    visibility=Visibility.OPERATORS,
                ),
                LogAction(
                    event=Whispered(
                        at=now,
                        actor=operator_actor(operator_id),
                        operator_id=operator_id,
                        text=text,
                    )
                ),
            ]

        await self._act(dialog_id, decide, known)

    async def pin(
        self,
        dialog_id: int,
        operator_id: str,
        *,
        pinned: bool = True,
        known: Dialog | None = None,
    ) -> None:
        """A pinned dialog is never closed automatically. Unpinned, it is closed when its
        auto-close comes due, at once if that time passed while it was pinned."""

        async def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is CLOSED:
                raise DialogError(f"dialog {dialog.id} is closed")
            await self._in_dialog(dialog, operator_id)
            if dialog.pinned == pinned:
                return []
            now, actor = self._clock.now(), operator_actor(operator_id)
            event = Pinned(at=now, actor=actor) if pinned else Unpinned(at=now, actor=actor)
            actions: list[DialogAction] = [FieldsAction(pinned=pinned), LogAction(event=event)]
            if not pinned and self.line(dialog.line_id).settings.auto_close_after is not None:
                # An auto-close that came due during the pin fired and let the dialog be; it
                # fires again now. One still to come waits as it was.
                key = str(dialog.id)
                actions.append(TimerAction(kind=AUTO_CLOSE_TIMER, key=key, due_at=None, rearm=True))
            return actions

        await self._act(dialog_id, decide, known)

    async def unpin(self, dialog_id: int, operator_id: str, *, known: Dialog | None = None) -> None:
        await self.pin(dialog_id, operator_id, pinned=False, known=known)

    async def handoff(self, dialog_id: int, reason: str | None = None) -> None:
        """Take the dialog from the bot and queue it for the line's operators."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            move = self._move(dialog, Transition.HANDOFF, None)
            queued = dialog.model_copy(update={"status": move.status})
            return [
                move,
                LogAction(event=HandedOff(at=now, actor="system", reason=reason)),
                LogAction(event=Queued(at=now, actor="system")),
                *self._route(queued),
            ]

        await self._act(dialog_id, decide)

    async def back_to_bot(self, dialog_id: int, operator_id: str) -> None:
        """Hand the dialog back to the line's bot."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            if self.line(dialog.line_id).bot is None:
                raise DialogError(f"line {dialog.line_id!r} has no bot to hand the dialog to")
            now = self._clock.now()
            return [
                self._move(dialog, Transition.BACK_TO_BOT, None),
                LogAction(event=BackToBot(at=now, actor=operator_actor(operator_id))),
            ]

        before = await self.get(dialog_id)
        await self._act(dialog_id, decide)
        self._released(before)

    async def close(
        self,
        dialog_id: int,
        *,
        actor: str = "system",
        reason: str | None = None,
        known: Dialog | None = None,
    ) -> None:
        """Close the dialog. Closed by an operator, the client gets the line's closing text; then,
        if the line asks for ratings, the rating question."""
        before = known or await self.get(dialog_id)

        async def decide(dialog: Dialog) -> list[DialogAction]:
            kind, _, operator_id = actor.partition(":")
            if kind == "operator":
                await self._in_dialog(dialog, operator_id)
            return self._closing(dialog, actor=actor, reason=reason)

        await self._act(dialog_id, decide, known)
        self._released(before)

    def _closing(self, dialog: Dialog, *, actor: str, reason: str | None) -> list[DialogAction]:
        line = self.line(dialog.line_id)
        settings = line.settings
        now = self._clock.now()
        actions: list[DialogAction] = [
            self._move(dialog, Transition.CLOSE, dialog.operator_id),
            LogAction(event=Closed(at=now, actor=actor, reason=reason)),
            TimerAction(kind=AUTO_CLOSE_TIMER, key=str(dialog.id), due_at=None),
        ]
        if self.crm and settings.crm_transcripts:
            actions.append(transcript_job(dialog, now))
        operator_name = self._names.get(dialog.operator_id or "")
        by_people = actor.startswith("operator:") or reason == "auto"
        if reason == "auto" and settings.auto_close_text is not None:
            text = render_text(settings.auto_close_text, dialog, line.name, operator_name)
            actions.append(system_text(text))
        elif actor.startswith("operator:") and settings.closing is not None:
            text = render_text(settings.closing, dialog, line.name, operator_name)
            actions.append(system_text(text))
        if by_people and settings.rating.enabled and dialog.operator_id is not None:
            rating = settings.rating
            question = (
                rating.webchat_text
                if dialog.identity.channel.type == "webchat"
                else rating.messenger_text
            )
            text = render_text(question, dialog, line.name, operator_name)
            actions.append(SendAction(author="system", message=rating_question(text), parts=()))
            actions.append(FieldsAction(awaiting_rating=True))
        return actions

    async def auto_close(self, dialog_id: int) -> None:
        """The client stayed silent for the line's period after an operator's answer."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is not ACTIVE:
                # Nobody answers it now: forget the timer, or an unpin would fire it again.
                return [TimerAction(kind=AUTO_CLOSE_TIMER, key=str(dialog.id), due_at=None)]
            if dialog.pinned:
                return []  # the timer stays fired until the dialog is unpinned
            return self._closing(dialog, actor="system", reason="auto")

        before = await self.get(dialog_id)
        await self._act(dialog_id, decide)
        self._released(before)

    async def reopen(
        self, dialog_id: int, operator_id: str, *, known: Dialog | None = None
    ) -> None:
        """Reopen a closed dialog from its history: ``operator_id`` holds it again at once."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is not CLOSED:
                raise DialogError(f"dialog {dialog.id} is {dialog.status.value}, not closed")
            now = self._clock.now()
            return [
                self._move(dialog, Transition.REOPEN_TO_OPERATOR, operator_id),
                FieldsAction(awaiting_rating=False),
                LogAction(event=Reopened(at=now, actor=operator_actor(operator_id))),
                LogAction(
                    event=Accepted(
                        at=now, actor=operator_actor(operator_id), operator_id=operator_id
                    )
                ),
            ]

        await self._act(dialog_id, decide, known)

    # --- the distributor --------------------------------------------------------------------------

    async def route(self, dialog_id: int) -> None:
        """Give a waiting (or parked) dialog to an operator now, if anyone can take it."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is QUEUED and dialog.route is not Route.EXHAUSTED:
                return self._route(dialog)
            if dialog.status is OFFERED and dialog.route is Route.PARKED:
                # Withdraw it from the unavailable operator who keeps it, and offer it afresh.
                assert dialog.operator_id is not None
                now = self._clock.now()
                event = Skipped(
                    at=now, actor="system", operator_id=dialog.operator_id, reason="withdrawn"
                )
                move = transition(dialog.status, Transition.WITHDRAW)
                requeued = dialog.model_copy(
                    update={"status": move.status, "operator_id": None, "route": None}
                )
                return [
                    move,
                    LogAction(event=event),
                    *self._route(requeued),
                ]
            return []

        await self._act(dialog_id, decide)

    def pick_up(self, operator_id: str) -> None:
        """``operator_id`` may take more dialogs now: route the waiting dialogs of their lines,
        each in its own dialog's turn. Returns at once; ``Omniline.idle`` waits for it."""

        async def job() -> None:
            for line_id in await self._store.operators.lines_of(operator_id):
                for dialog_id in await self._store.operators.waiting_dialogs(line_id, limit=50):
                    try:
                        await self.route(dialog_id)
                    except DialogConflict:
                        # Another worker acted on it between this one's read and write (offered
                        # it, most often): the right outcome, nothing failed.
                        log.debug("dialog %s changed meanwhile; not routed here", dialog_id)
                    except Exception:
                        log.exception(
                            "routing dialog %s failed; it waits for a next chance", dialog_id
                        )

        self._serializer.submit(("pick-up", operator_id), job)
