"""Domain rules as pure code over ports; the ports themselves live in ``omniline.engine.ports``."""

from omniline.engine.clock import SystemClock
from omniline.engine.hours import WorkingHours
from omniline.engine.lifecycle import TRANSITIONS, Transition, next_status, transition
from omniline.engine.texts import LocalizedText, render

__all__ = [
    "TRANSITIONS",
    "LocalizedText",
    "SystemClock",
    "Transition",
    "WorkingHours",
    "next_status",
    "render",
    "transition",
]
