"""The built-in web-chat channel (entry point ``omniline.channels:webchat``)."""

from omniline.channels.webchat.channel import WebchatChannel, WebchatSettings
from omniline.plugins import ChannelPlugin

plugin: ChannelPlugin[WebchatSettings] = ChannelPlugin(
    name="webchat",
    config_model=WebchatSettings,
    factory=WebchatChannel,
    description="Web chat widget for any site: one <script> tag",
)

__all__ = ["WebchatChannel", "WebchatSettings", "plugin"]
