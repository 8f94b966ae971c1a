"""Distribution modes as strategies: each mode's choices, and the store carrying out whatever a
strategy asks without knowing the mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from omniline.engine.distribution import (
    CANDIDATES,
    STRATEGIES,
    Candidate,
    Order,
    Reach,
    Strategy,
    strategy_for,
)
from omniline.engine.settings import Distribution
from omniline.model import DialogStatus
from omniline.testing import Kit

OPERATORS = {"ann": "Ann", "bob": "Bob", "cid": "Cid"}
QUEUE = ["ann", "bob", "cid"]


def test_every_config_value_has_its_strategy() -> None:
    for mode in Distribution:
        assert strategy_for(mode).mode is mode


@pytest.mark.parametrize(
    ("mode", "order", "reach"),
    [
        (Distribution.STRICT, Order.POSITION, Reach.FIRST),
        (Distribution.EVENLY, Order.RECEIVED, Reach.FIRST),
        (Distribution.ALL, Order.POSITION, Reach.EVERYONE),
    ],
)
def test_each_mode_reads_its_index_and_offers_as_documented(
    mode: Distribution, order: Order, reach: Reach
) -> None:
    strategy = strategy_for(mode)
    assert (strategy.order, strategy.reach) == (order, reach)


def test_one_by_one_modes_read_only_a_few_beyond_those_tried_and_all_reads_a_thousand() -> None:
    assert strategy_for(Distribution.STRICT).limit(3) == 3 + CANDIDATES
    assert strategy_for(Distribution.EVENLY).limit(3) == 3 + CANDIDATES
    assert strategy_for(Distribution.ALL).limit(3) == 1000


def test_strict_and_all_offer_in_queue_order() -> None:
    read = [Candidate("cid", 0, 0), Candidate("ann", 9, 5), Candidate("bob", 1, 1)]
    assert strategy_for(Distribution.STRICT).rank(read) == ["cid", "ann", "bob"]
    assert strategy_for(Distribution.ALL).rank(read) == ["cid", "ann", "bob"]


def test_evenly_offers_fewest_received_then_fewest_open_then_queue_order() -> None:
    read = [  # as the index gives them: by received, then queue position
        Candidate("ann", 1, 4),
        Candidate("bob", 1, 2),
        Candidate("cid", 1, 2),
        Candidate("dan", 2, 0),
        Candidate("eve", 0, 9),
    ]
    assert strategy_for(Distribution.EVENLY).rank(read) == ["eve", "bob", "cid", "ann", "dan"]


# --- a strategy the store has never seen ----------------------------------------------------------


class LastInQueueFirst(Strategy):
    """Not a product mode: the queue backwards, to show the store runs any strategy as is."""

    mode = Distribution.STRICT
    order = Order.POSITION
    reach = Reach.FIRST

    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        return [c.operator_id for c in reversed(candidates)]


class EveryoneButTheFirst(Strategy):
    mode = Distribution.ALL
    order = Order.POSITION
    reach = Reach.EVERYONE

    def rank(self, candidates: Sequence[Candidate]) -> list[str]:
        return [c.operator_id for c in candidates[1:]]


def line(**settings: Any) -> dict[str, Any]:
    return {"queue": QUEUE, "response_timeout": 60, **settings}


async def test_a_strategy_registered_in_a_test_is_followed_by_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(STRATEGIES, Distribution.STRICT, LastInQueueFirst())
    async with Kit(operators=OPERATORS, line_settings=line(distribution="strict")) as kit:
        for operator_id in QUEUE:
            await kit.operator(operator_id).starts_work()
        client = kit.client("zoe")
        await client.says("hello")
        dialog = await client.dialog()
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "cid")

        await kit.advance(60)  # cid lets it time out: the next by the same strategy
        assert (await client.dialog()).operator_id == "bob"


async def test_a_strategy_offering_to_everyone_is_offered_to_exactly_those_it_ranks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(STRATEGIES, Distribution.ALL, EveryoneButTheFirst())
    async with Kit(operators=OPERATORS, line_settings=line(distribution="all")) as kit:
        for operator_id in QUEUE:
            await kit.operator(operator_id).starts_work()
        client = kit.client("zoe")
        await client.says("hello")
        dialog = await client.dialog()
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, None)
        assert await kit.app.store.operators.offered_to(dialog.id) == ["bob", "cid"]
        assert await kit.operator("ann").offered() == []
