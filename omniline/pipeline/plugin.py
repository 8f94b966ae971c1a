"""Middlewares from plugins.

A middleware plugin's entry point (group ``omniline.middlewares``) names a
:class:`MiddlewarePlugin`. The config's ``middlewares:`` list places an instance of it in the chain,
just before or just after a built-in (the plugin's own default place unless the config says), with
settings checked by the plugin's config model. It gets a :class:`MiddlewareHost`: the clock, the
lines, and a small durable key-value state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from omniline.engine.ports import Clock
from omniline.errors import PluginError
from omniline.pipeline.middleware import BUILTIN_ORDER, Middleware
from omniline.plugins import API_VERSION

if TYPE_CHECKING:
    from omniline.desks import PluginState
    from omniline.line import Line

C = TypeVar("C", bound=BaseModel)


@dataclass(frozen=True)
class MiddlewareHost:
    """What omniline offers a middleware from a plugin."""

    name: str
    """The instance's name: the config's ``name``, or the plugin's type."""
    clock: Clock
    lines: Mapping[str, Line]
    state: PluginState
    """Durable values of this instance (owner ``middleware:<name>``), shared by every worker."""


@dataclass(frozen=True)
class MiddlewarePlugin(Generic[C]):
    """What a middleware plugin's entry point (group ``omniline.middlewares``) points at."""

    name: str
    config_model: type[C]
    factory: Callable[[C, MiddlewareHost], Middleware]
    before: str | None = None
    after: str | None = None
    """Where the middleware goes when the config does not say: just before or just after this
    built-in (at most one of the two)."""
    api_version: int = API_VERSION
    description: str = ""

    def __post_init__(self) -> None:
        if self.before is not None and self.after is not None:
            raise PluginError(f"middleware plugin {self.name!r}: give before or after, not both")
        anchor = self.before or self.after
        if anchor is not None and anchor not in BUILTIN_ORDER:
            raise PluginError(
                f"middleware plugin {self.name!r}: unknown built-in middleware {anchor!r}; "
                f"one of {', '.join(BUILTIN_ORDER)}"
            )

    def create(self, settings: dict[str, Any], host: MiddlewareHost) -> Middleware:
        return self.factory(self.config_model.model_validate(settings), host)


__all__ = ["MiddlewareHost", "MiddlewarePlugin"]
