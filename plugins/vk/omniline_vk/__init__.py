"""omniline's VK channel: a VK community's messages through vk-api."""

from omniline import ChannelPlugin
from omniline_vk.channel import VkChannel
from omniline_vk.config import VkSettings

plugin: ChannelPlugin[VkSettings] = ChannelPlugin(
    name="vk",
    config_model=VkSettings,
    factory=VkChannel,
    description="VK community messages (Callback API or Bots Long Poll)",
)

__all__ = ["VkChannel", "VkSettings", "plugin"]
