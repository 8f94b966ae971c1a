"""Actions on a dialog from the business side (operators, code), serialized with its messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omniline.channels.degrade import degrade
from omniline.engine.lifecycle import Transition, next_status
from omniline.engine.ports import (
    Capabilities,
    Clock,
    Delivery,
    DialogAction,
    LogAction,
    SendAction,
    StatusAction,
    Store,
)
from omniline.errors import DialogError
from omniline.model import (
    Accepted,
    ChannelRef,
    Closed,
    Dialog,
    DialogEvent,
    DialogStatus,
    HandedOff,
    OutboundMessage,
    Queued,
    Visibility,
    Whispered,
)
from omniline.pipeline.serializer import KeyedSerializer


class Dialogs:
    """Operator-side actions. Each one is one transaction, run in turn with the dialog's messages."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        serializer: KeyedSerializer,
        capabilities: Callable[[ChannelRef], Capabilities],
        deliver: Callable[[list[Delivery]], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._serializer = serializer
        self._capabilities = capabilities
        self._deliver = deliver

    async def get(self, dialog_id: int) -> Dialog:
        dialog = await self._store.dialog(dialog_id)
        if dialog is None:
            raise DialogError(f"no dialog {dialog_id}")
        return dialog

    async def _act(
        self, dialog_id: int, decide: Callable[[Dialog], Sequence[DialogAction]]
    ) -> list[Delivery]:
        async def job() -> list[Delivery]:
            dialog = await self.get(dialog_id)
            deliveries = await self._store.apply(
                dialog_id, decide(dialog), guard=dialog.status, known=dialog
            )
            self._deliver(deliveries)
            return deliveries

        result: Any = await self._serializer.submit(dialog_id, job)
        deliveries: list[Delivery] = result
        return deliveries

    def _move(
        self, dialog: Dialog, transition: Transition, operator_id: str | None
    ) -> StatusAction:
        return StatusAction(
            expected=dialog.status,
            status=next_status(dialog.status, transition),
            operator_id=operator_id,
        )

    async def accept(self, dialog_id: int, operator_id: str) -> None:
        """``operator_id`` takes the dialog and answers it from now on."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            event: DialogEvent = Accepted(
                at=now, actor=f"operator:{operator_id}", operator_id=operator_id
            )
            return [self._move(dialog, Transition.ACCEPT, operator_id), LogAction(event=event)]

        await self._act(dialog_id, decide)

    async def reply(
        self, dialog_id: int, operator_id: str, content: str | OutboundMessage
    ) -> list[Delivery]:
        """Send the client a message as ``operator_id``, who must hold the dialog."""
        message = OutboundMessage.of(content)

        def decide(dialog: Dialog) -> list[DialogAction]:
            if dialog.status is not DialogStatus.ACTIVE or dialog.operator_id != operator_id:
                raise DialogError(
                    f"operator {operator_id} does not hold dialog {dialog.id} ({dialog.status.value})"
                )
            caps = self._capabilities(dialog.identity.channel)
            return [
                SendAction(
                    author=f"operator:{operator_id}",
                    message=message,
                    parts=degrade(message, caps),
                )
            ]

        return await self._act(dialog_id, decide)

    async def whisper(self, dialog_id: int, operator_id: str, text: str) -> None:
        """A note among operators in the dialog. The client never sees it."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            return [
                SendAction(
                    author=f"operator:{operator_id}",
                    message=OutboundMessage(text=text),
                    parts=(),
                    visibility=Visibility.OPERATORS,
                ),
                LogAction(
                    event=Whispered(
                        at=now, actor=f"operator:{operator_id}", operator_id=operator_id, text=text
                    )
                ),
            ]

        await self._act(dialog_id, decide)

    async def handoff(self, dialog_id: int, reason: str | None = None) -> None:
        """Take the dialog from the bot and queue it for the line's operators."""

        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            return [
                self._move(dialog, Transition.HANDOFF, None),
                LogAction(event=HandedOff(at=now, actor="system", reason=reason)),
                LogAction(event=Queued(at=now, actor="system")),
            ]

        await self._act(dialog_id, decide)

    async def close(
        self, dialog_id: int, *, actor: str = "system", reason: str | None = None
    ) -> None:
        def decide(dialog: Dialog) -> list[DialogAction]:
            now = self._clock.now()
            return [
                self._move(dialog, Transition.CLOSE, dialog.operator_id),
                LogAction(event=Closed(at=now, actor=actor, reason=reason)),
            ]

        await self._act(dialog_id, decide)
