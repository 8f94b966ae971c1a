"""The one plugin type: what an entry point of any omniline group points at.

It lives this low so that the CRM, desk and pipeline modules can name their plugins without
importing :mod:`omniline.plugins` (which imports them to re-export their ports). Plugin authors
import it from :mod:`omniline.plugins`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel

from omniline.engine.ports import Channel, ChannelHost
from omniline.errors import PluginError
from omniline.model import ChannelRef

API_VERSION = 1
"""The plugin API version this omniline offers."""


class PluginKind(StrEnum):
    """What a plugin makes; each kind has its own entry-point group."""

    CHANNEL = "channel"
    CRM = "crm"
    DESK = "desk"
    MIDDLEWARE = "middleware"

    @property
    def group(self) -> str:
        """The entry-point group plugins of this kind are installed under."""
        return _GROUPS[self]

    @property
    def type_name(self) -> str:
        """How errors and docs name a plugin of this kind (``ChannelPlugin``...)."""
        return f"{self.value.capitalize()}Plugin"


_GROUPS = {
    PluginKind.CHANNEL: "omniline.channels",
    PluginKind.CRM: "omniline.crm",
    PluginKind.DESK: "omniline.desks",
    PluginKind.MIDDLEWARE: "omniline.middlewares",
}

SettingsT = TypeVar("SettingsT", bound=BaseModel)
ProductT = TypeVar("ProductT")


@dataclass(frozen=True)
class Plugin(Generic[SettingsT, ProductT]):
    """A plugin: its settings model and the factory that makes its channel, CRM, desk or middleware.

    The factory is called with the validated settings and the kind's host: ``factory(settings,
    host)``; a channel's factory also gets the channel it serves first: ``factory(ref, settings,
    host)``.
    """

    kind: PluginKind
    name: str
    config_model: type[SettingsT]
    factory: Callable[..., ProductT]
    api_version: int = API_VERSION
    description: str = ""
    before: str | None = None
    after: str | None = None
    """A middleware's own place when the config gives none: just before or just after this
    built-in middleware (at most one of the two). Only middlewares have a place."""

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            return
        if self.kind is not PluginKind.MIDDLEWARE:
            raise PluginError(f"{self.kind} plugin {self.name!r}: only a middleware has a place")
        if self.before is not None and self.after is not None:
            raise PluginError(f"middleware plugin {self.name!r}: give before or after, not both")

    def settings(self, raw: Mapping[str, object]) -> SettingsT:
        """The plugin's settings from the config (raises pydantic's ``ValidationError``)."""
        return self.config_model.model_validate(raw)

    def create(
        self, raw: Mapping[str, object], host: object, *, ref: ChannelRef | None = None
    ) -> ProductT:
        """Validate ``raw`` and call the factory with the kind's ``host`` (and a channel's
        ``ref``)."""
        settings = self.settings(raw)
        if self.kind is not PluginKind.CHANNEL:
            return self.factory(settings, host)
        if ref is None:
            raise TypeError(f"channel plugin {self.name!r}: create() needs the channel's ref")
        return self.factory(ref, settings, host)


C = TypeVar("C", bound=BaseModel)


def ChannelPlugin(
    name: str,
    config_model: type[C],
    factory: Callable[[ChannelRef, C, ChannelHost], Channel],
    api_version: int = API_VERSION,
    description: str = "",
) -> Plugin[C, Channel]:
    """A channel :class:`Plugin` whose factory's signature mypy checks."""
    return Plugin(
        kind=PluginKind.CHANNEL,
        name=name,
        config_model=config_model,
        factory=factory,
        api_version=api_version,
        description=description,
    )


__all__ = ["API_VERSION", "ChannelPlugin", "Plugin", "PluginKind"]
