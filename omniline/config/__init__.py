"""Configuration: one YAML file validated by pydantic models."""

from omniline.config.loader import load_config, parse_config
from omniline.config.models import (
    ChannelConfig,
    Config,
    LineConfig,
    OperatorConfig,
    OutboxConfig,
    ServerConfig,
    StorageConfig,
)

__all__ = [
    "ChannelConfig",
    "Config",
    "LineConfig",
    "OperatorConfig",
    "OutboxConfig",
    "ServerConfig",
    "StorageConfig",
    "load_config",
    "parse_config",
]
