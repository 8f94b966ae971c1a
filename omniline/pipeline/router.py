"""Bot handlers: a line's own code, registered with decorators and chosen by filters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from omniline.pipeline.context import MessageContext
from omniline.pipeline.filters import AnyMessage, Filter

Handler = Callable[[MessageContext], Awaitable[None]]


@dataclass(frozen=True)
class _Registered:
    filters: tuple[Filter, ...]
    handler: Handler


class Router:
    """A set of handlers. The first handler (in registration order) whose filters all pass answers.

    ::

        bot = Router()

        @bot.message(Command("start"))
        async def start(ctx: MessageContext) -> None:
            ctx.reply("Hello! Type 'operator' to talk to a person.")
    """

    def __init__(self, name: str = "bot") -> None:
        self.name = name
        self._handlers: list[_Registered] = []
        self._children: list[Router] = []

    def message(self, *filters: Filter) -> Callable[[Handler], Handler]:
        """Register the decorated handler; with no filters it takes any message."""

        def register(handler: Handler) -> Handler:
            self._handlers.append(_Registered(tuple(filters) or (AnyMessage(),), handler))
            return handler

        return register

    def include(self, router: Router) -> None:
        """Try ``router``'s handlers after this router's own."""
        if router is self:
            raise ValueError("a router cannot include itself")
        self._children.append(router)

    async def dispatch(self, ctx: MessageContext) -> bool:
        """Run the first matching handler. Returns whether one ran."""
        for registered in self._handlers:
            ctx.match = None  # a match belongs to the handler whose filters all passed
            if all(f.check(ctx) for f in registered.filters):
                await registered.handler(ctx)
                return True
        for child in self._children:
            if await child.dispatch(ctx):
                return True
        return False
