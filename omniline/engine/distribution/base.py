"""What a distribution mode is: the few choices that tell one mode from another.

The database adapter carries out every routing decision in one transaction and knows no mode by
name; it asks the line's strategy three things and runs the matching statements:

- **which index to read** the line's queue from (:class:`Order`) and **how many** operators: the
  store keeps one index per order, so a decision costs the same with 10 or 10,000 operators;
- **in what order to offer** to those read (:meth:`Strategy.rank`), pure code over what was read;
- **what to do atomically** with them (:class:`Reach`): take the first one with room, or offer to
  all of them at once.

What every mode shares stays outside the strategies: the preferred operators come first, nobody
available parks the dialog with the next operator in queue order, and a queue tried through waits
or follows the nobody-answered policy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar, NamedTuple

from omniline.engine.settings import Distribution

CANDIDATES = 16
"""Operators read per routing decision beyond those already tried: enough to get past a few that
fill up meanwhile, few enough that a decision costs the same with 10 or 10,000 in the queue."""


class Order(StrEnum):
    """The order the store reads a line's queue in. Each one is an index the store keeps on
    ``line_operators`` (and a partial one over the operators ready to take a dialog)."""

    POSITION = "position"
    """Queue order (``ix_line_operators_ready``, ``ix_line_operators_line_position``)."""
    RECEIVED = "received"
    """Fewest dialogs received on the line first, then queue order
    (``ix_line_operators_ready_received``, ``ix_line_operators_line_received``)."""


class Reach(StrEnum):
    """What the store does with the ranked candidates, in the decision's transaction."""

    FIRST = "first"
    """Offer to the first candidate the store can take: one conditional UPDATE each, in rank
    order, that raises their load only if they still have room (and are available), so two
    workers never overfill an operator or give one dialog to two."""
    EVERYONE = "everyone"
    """Offer to every candidate at once (one ``dialog_offers`` row each). Nobody's load is raised
    until one of them accepts, and accepting is itself such a conditional UPDATE."""


class Candidate(NamedTuple):
    """An operator of the line's queue as the store read them, with room for the dialog."""

    operator_id: str
    received: int
    """Dialogs offered to them on this line so far."""
    load: int
    """Dialogs offered to them alone or held by them now."""


class Strategy(ABC):
    """One distribution mode. A strategy holds no state: one instance serves every line."""

    mode: ClassVar[Distribution]
    """The config value (``distribution:``) that selects this mode."""
    order: ClassVar[Order]
    reach: ClassVar[Reach]

    def limit(self, tried: int) -> int:
        """How many operators to read when ``tried`` were offered the dialog in this round
        already (the store passes over those)."""
        return tried + CANDIDATES

    @abstractmethod
    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        """The operators to offer to, best first, from ``candidates`` (in :attr:`order`, none
        tried yet)."""
