"""Filters that choose which bot handler answers a message. Combine them with ``&``, ``|``, ``~``."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omniline.pipeline.context import MessageContext


class Filter(ABC):
    @abstractmethod
    def check(self, ctx: MessageContext) -> bool: ...

    def __and__(self, other: Filter) -> Filter:
        return _All(self, other)

    def __or__(self, other: Filter) -> Filter:
        return _Any(self, other)

    def __invert__(self) -> Filter:
        return _Not(self)


class _All(Filter):
    def __init__(self, *parts: Filter) -> None:
        self.parts = parts

    def check(self, ctx: MessageContext) -> bool:
        return all(p.check(ctx) for p in self.parts)


class _Any(Filter):
    def __init__(self, *parts: Filter) -> None:
        self.parts = parts

    def check(self, ctx: MessageContext) -> bool:
        return any(p.check(ctx) for p in self.parts)


class _Not(Filter):
    def __init__(self, part: Filter) -> None:
        self.part = part

    def check(self, ctx: MessageContext) -> bool:
        return not self.part.check(ctx)


class AnyMessage(Filter):
    """Every message."""

    def check(self, ctx: MessageContext) -> bool:
        return True


class Text(Filter):
    """The whole text equals one of ``values`` (case-insensitive unless told otherwise)."""

    def __init__(self, *values: str, ignore_case: bool = True) -> None:
        if not values:
            raise ValueError("Text() needs at least one value")
        self.ignore_case = ignore_case
        self.values = {v.casefold() if ignore_case else v for v in values}

    def check(self, ctx: MessageContext) -> bool:
        text = ctx.event.message.text
        if text is None:
            return False
        text = text.strip()
        return (text.casefold() if self.ignore_case else text) in self.values


class Regex(Filter):
    """The text matches ``pattern`` (``re.search``); the match is in ``ctx.match``."""

    def __init__(self, pattern: str | re.Pattern[str], flags: int = 0) -> None:
        self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def check(self, ctx: MessageContext) -> bool:
        text = ctx.event.message.text
        if text is None:
            return False
        found = self.pattern.search(text)
        if found is None:
            return False
        ctx.match = found
        return True


class Command(Filter):
    """``/name`` or ``/name arguments`` (also ``/name@botname``, as Telegram sends in groups)."""

    def __init__(self, *names: str) -> None:
        if not names:
            raise ValueError("Command() needs at least one name")
        self.names = {n.lstrip("/").casefold() for n in names}

    def check(self, ctx: MessageContext) -> bool:
        text = (ctx.event.message.text or "").strip()
        if not text.startswith("/"):
            return False
        word = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
        return word.split("@", 1)[0].casefold() in self.names


class ButtonPressed(Filter):
    """The client pressed a button with one of ``payloads`` (any button when none are given)."""

    def __init__(self, *payloads: str) -> None:
        self.payloads = set(payloads)

    def check(self, ctx: MessageContext) -> bool:
        payload = ctx.event.message.button_payload
        if payload is None:
            return False
        return not self.payloads or payload in self.payloads


class HasAttachment(Filter):
    def check(self, ctx: MessageContext) -> bool:
        return bool(ctx.event.message.attachments)


class HasContact(Filter):
    def check(self, ctx: MessageContext) -> bool:
        return ctx.event.message.contact is not None
