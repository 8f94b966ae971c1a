"""Viber bots as an omniline channel (the ``viber`` channel type)."""

from __future__ import annotations

from omniline.plugins import Channel, Plugin, PluginKind
from omniline_viber.channel import ViberChannel
from omniline_viber.settings import ViberSettings

plugin: Plugin[ViberSettings, Channel] = Plugin(
    kind=PluginKind.CHANNEL,
    name="viber",
    config_model=ViberSettings,
    factory=ViberChannel,
    description="Viber bots (webhook)",
)

__all__ = ["ViberChannel", "ViberSettings", "plugin"]
