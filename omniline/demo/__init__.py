"""The demo line: ``omniline demo`` runs it on embedded defaults, no tokens needed."""

from omniline.demo.bot import bot
from omniline.demo.setup import DEMO_OPERATORS, demo_config

__all__ = ["DEMO_OPERATORS", "bot", "demo_config"]
