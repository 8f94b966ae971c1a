"""A line at run time: its settings and its bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from omniline.engine.settings import LineSettings
from omniline.model import Dialog, DialogStatus
from omniline.pipeline.router import Router

ResponsibleLookup = Callable[[Dialog], Awaitable[str | None]]


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
    settings: LineSettings = field(default_factory=LineSettings)
    """The Open Lines settings. Change them with :meth:`update`, which validates the result."""
    crm: bool = False
    """A CRM is configured: the pipeline calls for CRM jobs (set by the application)."""
    responsible_manager: ResponsibleLookup | None = None
    """The CRM hook: the operator responsible for the dialog's client, if the CRM knows one. A
    new dialog goes to them first (if available), even outside the queue when
    ``settings.responsible_outside_queue`` says so."""

    @property
    def initial_status(self) -> DialogStatus:
        """New dialogs start with the bot when the line has one, otherwise in the queue."""
        return DialogStatus.BOT if self.bot is not None else DialogStatus.QUEUED

    def wants_human(self, text: str | None, button_payload: str | None) -> bool:
        if button_payload is not None and button_payload == self.handoff_button:
            return True
        return text is not None and text.strip().casefold() in self.handoff_phrases

    def update(self, **changes: Any) -> LineSettings:
        """Change settings at run time, e.g. ``line.update(distribution="evenly")``. The whole
        result is validated first (``pydantic.ValidationError`` names what is wrong), so a line
        never runs on half-applied settings."""
        if "queue" in changes:
            raise ValueError(
                "change a line's queue with Omniline.set_queue (it is in the database)"
            )
        merged = {**self.settings.model_dump(), **changes}
        self.settings = LineSettings.model_validate(merged)
        return self.settings
