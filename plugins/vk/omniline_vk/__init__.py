"""omniline's VK channel: a VK community's messages through vk-api."""

from omniline.plugins import Channel, Plugin, PluginKind
from omniline_vk.channel import VkChannel
from omniline_vk.config import VkSettings

plugin: Plugin[VkSettings, Channel] = Plugin(
    kind=PluginKind.CHANNEL,
    name="vk",
    config_model=VkSettings,
    factory=VkChannel,
    description="VK community messages (Callback API or Bots Long Poll)",
)

__all__ = ["VkChannel", "VkSettings", "plugin"]
