"""The demo line: ``omniline demo`` runs it on embedded defaults, no tokens needed."""

from omniline.demo.bot import bot
from omniline.demo.setup import DEMO_OPERATORS, DEMO_SUPERVISOR, demo_config, demo_credentials

__all__ = ["DEMO_OPERATORS", "DEMO_SUPERVISOR", "bot", "demo_config", "demo_credentials"]
