"""The distributor: what to do with a dialog that needs an operator, and how each distribution
mode chooses who is offered it.

``rules`` holds what every mode shares (working hours, the :class:`RoutePlan`, the line's own
texts); each mode is a :class:`Strategy` in a module of its own (``strict``, ``evenly``, ``all``),
listed in ``registry`` under its config value. The store carries a plan out in one transaction,
asking the line's strategy which operators to read, in what order and what to do with them.
"""

from omniline.engine.distribution.base import CANDIDATES, Candidate, Order, Reach, Strategy
from omniline.engine.distribution.registry import STRATEGIES, strategy_for
from omniline.engine.distribution.rules import (
    AUTO_CLOSE_TIMER,
    OFFER_TIMER,
    ROUTE_TIMER,
    exhausted_text,
    language_of,
    off_hours_text,
    offer_due,
    plan_for,
    render_text,
    route_actions,
    system_text,
)

__all__ = [
    "AUTO_CLOSE_TIMER",
    "CANDIDATES",
    "OFFER_TIMER",
    "ROUTE_TIMER",
    "STRATEGIES",
    "Candidate",
    "Order",
    "Reach",
    "Strategy",
    "exhausted_text",
    "language_of",
    "off_hours_text",
    "offer_due",
    "plan_for",
    "render_text",
    "route_actions",
    "strategy_for",
    "system_text",
]
