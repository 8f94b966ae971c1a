"""A line at run time: its settings and its bot."""

from __future__ import annotations

from dataclasses import dataclass, field

from omniline.model import DialogStatus
from omniline.pipeline.router import Router


@dataclass
class Line:
    """One contact-center queue. Settings can be changed at run time through this object."""

    id: str
    name: str
    bot: Router | None = None
    handoff_phrases: frozenset[str] = field(default_factory=frozenset)
    """Texts (compared case-insensitively, whole message) with which a client asks for a person."""
    handoff_button: str | None = "omniline:operator"
    """A button payload that asks for a person."""
    handoff_on_bot_error: bool = True
    """When a bot handler fails, pass the dialog to operators rather than leave the client waiting."""
    handoff_when_unhandled: bool = True
    """When no bot handler takes a message, pass the dialog to operators."""

    @property
    def initial_status(self) -> DialogStatus:
        """New dialogs start with the bot when the line has one, otherwise in the queue."""
        return DialogStatus.BOT if self.bot is not None else DialogStatus.QUEUED

    def wants_human(self, text: str | None, button_payload: str | None) -> bool:
        if button_payload is not None and button_payload == self.handoff_button:
            return True
        return text is not None and text.strip().casefold() in self.handoff_phrases
