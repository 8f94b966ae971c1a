"""``evenly``: to the operator who has received the fewest dialogs on this line; ties go to the
one with the fewest open dialogs, then to queue order.

The counts are ``line_operators.received`` in the database, raised with every offer, so the round
robin survives restarts and is shared by every worker process.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniline.engine.distribution.base import Candidate, Order, Reach, Strategy
from omniline.engine.settings import Distribution


class Evenly(Strategy):
    mode = Distribution.EVENLY
    order = Order.RECEIVED
    reach = Reach.FIRST

    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        # The index gives fewest received, then queue order; the load decides among equals, and a
        # stable sort keeps queue order among those equal in both.
        ranked = sorted(candidates, key=lambda c: (c.received, c.load))
        return [c.operator_id for c in ranked]
