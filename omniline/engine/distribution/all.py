"""``all``: to every available operator with room at once; the first to accept takes it and the
others see it withdrawn. One offer timer runs for them all."""

from __future__ import annotations

from collections.abc import Sequence

from omniline.engine.distribution.base import Candidate, Order, Reach, Strategy
from omniline.engine.settings import Distribution

AT_ONCE = 1000
"""Most operators one dialog is offered to at once."""


class All(Strategy):
    mode = Distribution.ALL
    order = Order.POSITION
    reach = Reach.EVERYONE

    def limit(self, tried: int) -> int:
        return AT_ONCE

    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        return [c.operator_id for c in candidates]
