"""Middlewares from plugins.

A middleware plugin's entry point (group ``omniline.middlewares``) names a
:class:`~omniline.plugins.Plugin` of kind ``middleware`` (:func:`MiddlewarePlugin` makes one). The
config's ``middlewares:`` list places an instance of it in the chain, just before or just after a
built-in (the plugin's own default place unless the config says), with settings checked by the
plugin's config model. It gets a :class:`MiddlewareHost`: the clock, the
lines, and a small durable key-value state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from omniline.engine.plugin import API_VERSION, Plugin, PluginKind
from omniline.engine.ports import Clock
from omniline.errors import PluginError
from omniline.pipeline.middleware import BUILTIN_ORDER, Middleware

if TYPE_CHECKING:
    from omniline.pipeline.line import Line
    from omniline.store.state import PluginState

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


def MiddlewarePlugin(
    name: str,
    config_model: type[C],
    factory: Callable[[C, MiddlewareHost], Middleware],
    before: str | None = None,
    after: str | None = None,
    api_version: int = API_VERSION,
    description: str = "",
) -> Plugin[C, Middleware]:
    """A middleware :class:`~omniline.plugins.Plugin` whose factory's signature is checked by mypy
    and whose own place (``before`` or ``after`` a built-in) is checked at once."""
    return checked_place(
        Plugin(
            kind=PluginKind.MIDDLEWARE,
            name=name,
            config_model=config_model,
            factory=factory,
            before=before,
            after=after,
            api_version=api_version,
            description=description,
        )
    )


P = TypeVar("P", bound=Plugin[Any, Any])


def checked_place(plugin: P) -> P:
    """``plugin``, refused if it places itself at a built-in middleware that does not exist.

    The plugin type cannot check this itself: it sits below the pipeline that knows the built-ins.
    """
    anchor = plugin.before or plugin.after
    if anchor is not None and anchor not in BUILTIN_ORDER:
        raise PluginError(
            f"middleware plugin {plugin.name!r}: unknown built-in middleware {anchor!r}; "
            f"one of {', '.join(BUILTIN_ORDER)}"
        )
    return plugin


__all__ = ["MiddlewareHost", "MiddlewarePlugin", "checked_place"]
