"""The strategy for each config value of ``distribution``: a new mode's module is listed here."""

from __future__ import annotations

from omniline.engine.distribution.all import All
from omniline.engine.distribution.base import Strategy
from omniline.engine.distribution.evenly import Evenly
from omniline.engine.distribution.strict import Strict
from omniline.engine.settings import Distribution

STRATEGIES: dict[Distribution, Strategy] = {s.mode: s for s in (Strict(), Evenly(), All())}


def strategy_for(mode: Distribution) -> Strategy:
    return STRATEGIES[mode]
