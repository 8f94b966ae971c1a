"""The typed context a middleware and a bot handler work with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from omniline.engine.ports import Capabilities, DialogAction, Receipt, SendAction
from omniline.model import Button, Dialog, InboundEvent, OutboundMessage

if TYPE_CHECKING:
    from omniline.pipeline.line import Line


@dataclass
class MessageContext:
    """One inbound message on its way through the pipeline.

    ``reply``, ``handoff`` and ``close`` record what should happen; it happens when the pipeline run
    ends, all in one transaction, so a failing handler leaves nothing half done.
    """

    event: InboundEvent
    receipt: Receipt
    line: Line
    dialog: Dialog
    capabilities: Capabilities
    now: datetime
    actions: list[DialogAction] = field(default_factory=list)
    handoff_reason: str | None = None
    handoff_requested: bool = False
    close_requested: bool = False
    close_reason: str | None = None
    match: re.Match[str] | None = None
    """The regular-expression match of the ``Regex`` filter that chose the handler."""
    state: dict[str, object] = field(default_factory=dict)
    """Free room for user middlewares to pass things to handlers."""

    @property
    def text(self) -> str:
        """The message's text ('' when it has none)."""
        return self.event.message.text or ""

    def reply(
        self,
        content: str | OutboundMessage,
        *,
        buttons: list[list[Button]] | None = None,
    ) -> None:
        """Answer the client as the line's bot."""
        message = OutboundMessage.of(content)
        if buttons:
            message = message.model_copy(update={"buttons": tuple(tuple(r) for r in buttons)})
        self.send(message, author="bot")

    def send(self, message: OutboundMessage, *, author: str) -> None:
        """Send ``message`` to the client in the name of ``author`` (``bot`` or ``system``)."""
        from omniline.engine.rendering import degrade

        self.actions.append(
            SendAction(author=author, message=message, parts=degrade(message, self.capabilities))
        )

    def handoff(self, reason: str | None = None) -> None:
        """Pass the dialog to the line's operators once this message is handled."""
        self.handoff_requested = True
        self.handoff_reason = reason

    def close(self, reason: str | None = None) -> None:
        """Close the dialog once this message is handled."""
        self.close_requested = True
        self.close_reason = reason
