"""The built-in web-chat channel (entry point ``omniline.channels:webchat``)."""

from omniline.channels.webchat.channel import WebchatChannel, WebchatSettings
from omniline.engine.plugin import ChannelPlugin, Plugin
from omniline.engine.ports import Channel

plugin: Plugin[WebchatSettings, Channel] = ChannelPlugin(
    name="webchat",
    config_model=WebchatSettings,
    factory=WebchatChannel,
    description="Web chat widget for any site: one <script> tag",
)

__all__ = ["WebchatChannel", "WebchatSettings", "plugin"]
