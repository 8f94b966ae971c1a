"""Telegram bots as omniline channels (aiogram 3).

The entry point ``omniline.channels:telegram`` names :data:`plugin`.
"""

from omniline.plugins import ChannelPlugin
from omniline_telegram.channel import CONTACT_REQUEST, TelegramChannel
from omniline_telegram.settings import TelegramSettings

plugin: ChannelPlugin[TelegramSettings] = ChannelPlugin(
    name="telegram",
    config_model=TelegramSettings,
    factory=TelegramChannel,
    description="Telegram bots: webhook or long polling, keyboards, files, contact sharing",
)

__all__ = ["CONTACT_REQUEST", "TelegramChannel", "TelegramSettings", "plugin"]
