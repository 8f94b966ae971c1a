"""The middleware chain: ``async (call_next, event, ctx)``, folded once.

Built-in middlewares run in the order of :data:`BUILTIN_ORDER`; user middlewares are placed before or
after a named built-in. A middleware that does not call ``call_next`` ends the run there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

from omniline.model import InboundEvent
from omniline.pipeline.context import MessageContext

Next = Callable[[InboundEvent, MessageContext], Awaitable[None]]
Middleware = Callable[[Next, InboundEvent, MessageContext], Awaitable[None]]

BUILTIN_ORDER: tuple[str, ...] = (
    "errors",  # a failing handler is logged and the client is not left without an answer
    "dialog",  # the dialog as the message finds it: a numbered reply becomes a button press
    "contacts",  # phone numbers and emails the client gives are remembered on the identity
    "crm",  # the CRM learns about a new dialog's client, or their contact details (a job)
    "rating",  # the answer to a closed dialog's rating question
    "welcome",  # the line's welcome text after the first message of a dialog
    "operator_gate",  # a dialog a human holds never reaches the bot; a new one is routed
    "human_request",  # the client asked for a person ("operator", a button...)
    "bot",  # the line's handlers
    "handoff",  # what the handlers asked for: to the queue, or closed
)
"""The built-in middlewares, in the one order they always run in."""


@dataclass(frozen=True)
class Placed:
    middleware: Middleware
    name: str
    before: str | None = None
    after: str | None = None


async def _end(event: InboundEvent, ctx: MessageContext) -> None:
    return None


class MiddlewareChain:
    def __init__(self, builtins: dict[str, Middleware]) -> None:
        missing = set(BUILTIN_ORDER) - set(builtins)
        if missing:
            raise ValueError(f"built-in middlewares missing: {sorted(missing)}")
        self._builtins = builtins
        self._placed: list[Placed] = []
        self._folded: Next | None = None

    def add(
        self,
        middleware: Middleware,
        *,
        before: str | None = None,
        after: str | None = None,
        name: str | None = None,
    ) -> None:
        """Place a user middleware just before or just after a built-in (by name)."""
        if (before is None) == (after is None):
            raise ValueError("give exactly one of before= or after=")
        anchor = before or after
        if anchor not in BUILTIN_ORDER:
            raise ValueError(f"unknown built-in middleware {anchor!r}; one of {BUILTIN_ORDER}")
        label = name or str(getattr(middleware, "__name__", type(middleware).__name__))
        self._placed.append(Placed(middleware, label, before, after))
        self._folded = None

    @property
    def order(self) -> list[str]:
        """Names in the order they run."""
        return [name for name, _ in self._ordered()]

    def _ordered(self) -> Sequence[tuple[str, Middleware]]:
        result: list[tuple[str, Middleware]] = []
        for builtin in BUILTIN_ORDER:
            result.extend((p.name, p.middleware) for p in self._placed if p.before == builtin)
            result.append((builtin, self._builtins[builtin]))
            result.extend((p.name, p.middleware) for p in self._placed if p.after == builtin)
        return result

    async def __call__(self, event: InboundEvent, ctx: MessageContext) -> None:
        if self._folded is None:
            handler: Next = _end
            for _, middleware in reversed(self._ordered()):
                handler = partial(middleware, handler)
            self._folded = handler
        await self._folded(event, ctx)
