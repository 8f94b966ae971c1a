"""How omniline finds plugins: entry points, one group per kind, each checked to be a
:class:`~omniline.engine.plugin.Plugin` of its group's kind and built for this omniline's plugin
API. Plugin authors reach these through :mod:`omniline.plugins`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from omniline.crm import CRM
from omniline.engine.plugin import API_VERSION, Plugin, PluginKind
from omniline.engine.ports import Channel, Desk
from omniline.errors import PluginError
from omniline.pipeline.middleware import Middleware
from omniline.pipeline.plugin import checked_place

GROUPS = tuple(kind.group for kind in PluginKind)


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


def _plugin(kind: PluginKind, label: str, name: str, builtin: str = "") -> Plugin[Any, Any]:
    """The installed plugin ``name`` of ``kind``'s group, checked to be a :class:`Plugin` of that
    kind (``label`` names the kind in errors)."""
    group = kind.group
    matches = [p for p in installed(group) if p.name == name]
    if not matches:
        known = ", ".join(sorted({p.name for p in installed(group)})) or "none"
        also = f"; built in: {builtin}" if builtin else ""
        raise PluginError(
            f"no {label} plugin {name!r} is installed (installed: {known}{also}); "
            f"install the distribution that provides it, e.g. omniline-{name}"
        )
    if len(matches) > 1:
        dists = ", ".join(m.distribution for m in matches)
        raise PluginError(f"{label} type {name!r} is provided twice: by {dists}")
    plugin = load(matches[0])
    if not isinstance(plugin, Plugin) or plugin.kind is not kind:
        raise PluginError(
            f"entry point {group}:{name} of {matches[0].distribution} is not a {kind.type_name} "
            f"(an omniline.plugins.Plugin of kind {kind.value!r})"
        )
    found: Plugin[Any, Any] = plugin
    return found


def channel_plugin(channel_type: str) -> Plugin[Any, Channel]:
    """The installed channel plugin for ``channel_type``."""
    return _plugin(PluginKind.CHANNEL, "channel", channel_type)


def crm_plugin(crm_type: str) -> Plugin[Any, CRM]:
    """The installed CRM plugin for ``crm_type``."""
    return _plugin(PluginKind.CRM, "CRM", crm_type, builtin="embedded")


def desk_plugin(desk_type: str) -> Plugin[Any, Desk]:
    """The installed desk plugin for ``desk_type``."""
    return _plugin(PluginKind.DESK, "desk", desk_type)


def middleware_plugin(middleware_type: str) -> Plugin[Any, Middleware]:
    """The installed middleware plugin for ``middleware_type``, its own place checked (a plugin
    made without :func:`MiddlewarePlugin` was not checked when it was made)."""
    return checked_place(_plugin(PluginKind.MIDDLEWARE, "middleware", middleware_type))
