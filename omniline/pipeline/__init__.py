"""The inbound pipeline: middlewares, bot handlers and per-dialog ordering."""

from omniline.pipeline.context import MessageContext
from omniline.pipeline.filters import (
    AnyMessage,
    ButtonPressed,
    Command,
    Filter,
    HasAttachment,
    HasContact,
    Regex,
    Text,
)
from omniline.pipeline.middleware import BUILTIN_ORDER, Middleware, MiddlewareChain, Next
from omniline.pipeline.plugin import MiddlewareHost, MiddlewarePlugin
from omniline.pipeline.router import Handler, Router

__all__ = [
    "BUILTIN_ORDER",
    "AnyMessage",
    "ButtonPressed",
    "Command",
    "Filter",
    "Handler",
    "HasAttachment",
    "HasContact",
    "MessageContext",
    "Middleware",
    "MiddlewareChain",
    "MiddlewareHost",
    "MiddlewarePlugin",
    "Next",
    "Regex",
    "Router",
    "Text",
]
