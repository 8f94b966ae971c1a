"""Plugins, found only through entry points: one group per kind.

A plugin's entry point names a :class:`ChannelPlugin` (or another ``*Plugin``) object. It declares
its pydantic config model and the omniline plugin API version it was built for; omniline refuses a
plugin built for another version with an error naming the distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from omniline.engine.ports import Channel, ChannelHost
from omniline.errors import PluginError
from omniline.model import ChannelRef

API_VERSION = 1
"""The plugin API version this omniline offers."""

GROUPS = ("omniline.channels", "omniline.crm", "omniline.desks", "omniline.middlewares")

C = TypeVar("C", bound=BaseModel)


@dataclass(frozen=True)
class ChannelPlugin(Generic[C]):
    """What a channel plugin's entry point (group ``omniline.channels``) points at."""

    name: str
    config_model: type[C]
    factory: Callable[[ChannelRef, C, ChannelHost], Channel]
    api_version: int = API_VERSION
    description: str = ""

    def create(self, ref: ChannelRef, settings: dict[str, Any], host: ChannelHost) -> Channel:
        config = self.config_model.model_validate(settings)
        return self.factory(ref, config, host)


@dataclass(frozen=True)
class Installed:
    group: str
    name: str
    distribution: str
    version: str
    entry_point: EntryPoint

    def describe(self) -> str:
        return f"{self.group}:{self.name} from {self.distribution} {self.version}"


def installed(group: str | None = None) -> list[Installed]:
    """Every installed plugin entry point (of ``group``, or of all omniline groups)."""
    found = []
    for g in (group,) if group else GROUPS:
        for ep in entry_points(group=g):
            dist = ep.dist
            found.append(
                Installed(
                    group=g,
                    name=ep.name,
                    distribution=dist.name if dist is not None else "unknown distribution",
                    version=dist.version if dist is not None else "?",
                    entry_point=ep,
                )
            )
    return sorted(found, key=lambda p: (p.group, p.name))


def load(item: Installed) -> Any:
    """Import a plugin and check that it fits this omniline."""
    try:
        obj = item.entry_point.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {item.name!r} ({item.group}) from distribution {item.distribution} "
            f"failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    version = getattr(obj, "api_version", None)
    if version != API_VERSION:
        raise PluginError(
            f"plugin {item.name!r} from distribution {item.distribution} targets omniline plugin "
            f"API {version!r}, this omniline offers {API_VERSION}: install a matching version"
        )
    model = getattr(obj, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(
            f"plugin {item.name!r} from distribution {item.distribution} declares no pydantic "
            "config model (config_model)"
        )
    return obj


def _plugin(group: str, kind: str, name: str, expected: type, builtin: str = "") -> Any:
    """The installed plugin ``name`` of ``group``, checked to be an ``expected``."""
    matches = [p for p in installed(group) if p.name == name]
    if not matches:
        known = ", ".join(sorted({p.name for p in installed(group)})) or "none"
        also = f"; built in: {builtin}" if builtin else ""
        raise PluginError(
            f"no {kind} plugin {name!r} is installed (installed: {known}{also}); "
            f"install the distribution that provides it, e.g. omniline-{name}"
        )
    if len(matches) > 1:
        dists = ", ".join(m.distribution for m in matches)
        raise PluginError(f"{kind} type {name!r} is provided twice: by {dists}")
    plugin = load(matches[0])
    if not isinstance(plugin, expected):
        raise PluginError(
            f"entry point {group}:{name} of {matches[0].distribution} is not a {expected.__name__}"
        )
    return plugin


def channel_plugin(channel_type: str) -> ChannelPlugin[Any]:
    """The installed channel plugin for ``channel_type``."""
    found: ChannelPlugin[Any] = _plugin("omniline.channels", "channel", channel_type, ChannelPlugin)
    return found


def crm_plugin(crm_type: str) -> Any:
    """The installed CRM plugin for ``crm_type`` (a :class:`omniline.crm.CrmPlugin`)."""
    from omniline.crm import CrmPlugin

    return _plugin("omniline.crm", "CRM", crm_type, CrmPlugin, builtin="embedded")


def desk_plugin(desk_type: str) -> Any:
    """The installed desk plugin for ``desk_type`` (a :class:`omniline.desks.DeskPlugin`)."""
    from omniline.desks import DeskPlugin

    return _plugin("omniline.desks", "desk", desk_type, DeskPlugin)


def middleware_plugin(middleware_type: str) -> Any:
    """The installed middleware plugin for ``middleware_type`` (a
    :class:`omniline.pipeline.MiddlewarePlugin`)."""
    from omniline.pipeline.plugin import MiddlewarePlugin

    return _plugin("omniline.middlewares", "middleware", middleware_type, MiddlewarePlugin)


__all__ = [
    "API_VERSION",
    "ChannelPlugin",
    "Installed",
    "ValidationError",
    "channel_plugin",
    "crm_plugin",
    "desk_plugin",
    "installed",
    "load",
    "middleware_plugin",
]
