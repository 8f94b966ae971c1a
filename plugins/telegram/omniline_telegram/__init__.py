"""Telegram for omniline (aiogram 3): bots as channels, and a desk in a forum supergroup.

The entry point ``omniline.channels:telegram`` names :data:`plugin`; ``omniline.desks:telegram``
names :data:`omniline_telegram.desk.plugin`.
"""

from omniline.plugins import Channel, Plugin, PluginKind
from omniline_telegram.channel import CONTACT_REQUEST, TelegramChannel
from omniline_telegram.desk import TelegramDesk
from omniline_telegram.desk_settings import TelegramDeskSettings
from omniline_telegram.settings import TelegramSettings

plugin: Plugin[TelegramSettings, Channel] = Plugin(
    kind=PluginKind.CHANNEL,
    name="telegram",
    config_model=TelegramSettings,
    factory=TelegramChannel,
    description="Telegram bots: webhook or long polling, keyboards, files, contact sharing",
)

__all__ = [
    "CONTACT_REQUEST",
    "TelegramChannel",
    "TelegramDesk",
    "TelegramDeskSettings",
    "TelegramSettings",
    "plugin",
]
