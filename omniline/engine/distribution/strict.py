"""``strict``: to the first available operator in queue order, then down the queue on a skip or
a timeout (every operator offered is remembered in the dialog's ``tried``)."""

from __future__ import annotations

from collections.abc import Sequence

from omniline.engine.distribution.base import Candidate, Order, Reach, Strategy
from omniline.engine.settings import Distribution


class Strict(Strategy):
    mode = Distribution.STRICT
    order = Order.POSITION
    reach = Reach.FIRST

    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        return [c.operator_id for c in candidates]
