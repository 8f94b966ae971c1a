"""How many database round trips one operator action through the API costs.

Each ``executor.run`` is one round trip (one unit of work, one transaction). Before the console
handed the dialog it had read to the dialogs service, an accept read the dialog three times (the
endpoint, the service, and again for the answer) and asked who it was offered to even when it was
offered to one operator; a reply read it three times too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from omniline.store.executor import SqliteExecutor, Unit
from tests.console.conftest import SALES, Caller, Desk

BACKGROUND = frozenset({"outbox.claim", "outbox.finish", "timers.claim"})
"""Units of the workers that run beside a request (the outbox, the scheduler)."""


def unit_name(unit: Unit[Any]) -> str:
    """``repository.unit``: the unit's function and the store module it is in."""
    func = getattr(unit, "func", unit)
    module = getattr(func, "__module__", "").rsplit(".", 1)[-1]
    return f"{module}.{getattr(func, '__name__', repr(func))}"


@contextmanager
def round_trips(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The units of work run meanwhile, by name, leaving out the background workers'."""
    run = SqliteExecutor.run
    seen: list[str] = []

    async def counted(executor: SqliteExecutor, unit: Unit[Any]) -> Any:
        name = unit_name(unit)
        if name not in BACKGROUND:
            seen.append(name)
        return await run(executor, unit)

    with monkeypatch.context() as patch:
        patch.setattr(SqliteExecutor, "run", counted)
        yield seen


async def offered_to_anna(desk: Desk) -> tuple[Caller, int]:
    anna = await desk.with_token("anna")
    await desk.online("anna")
    receipt = await desk.client_writes(SALES, "zoe", "hello")
    dialog = await desk.dialog_of(SALES, "zoe")
    assert dialog.status.value == "offered" and dialog.operator_id == "anna"
    return anna, receipt.dialog_id


async def test_an_accept_through_the_api_reads_the_dialog_once_before_it_commits(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna, dialog_id = await offered_to_anna(desk)

    with round_trips(desk, monkeypatch) as seen:
        status, body = await anna.post(f"/dialogs/{dialog_id}/accept")

    assert status == 200 and body["status"] == "active", body
    # The token; the dialog (offered to anna, so she sees it without reading her lines); the
    # commit; the answer (the dialog and the people around it). It was 8: her lines, two more
    # reads of the dialog, and who it was offered to although it was offered to anna alone.
    assert len(seen) == 5, seen
    assert seen[: seen.index("dialogs.apply")].count("dialogs.dialog") == 1, seen


async def test_a_reply_through_the_api_reads_the_dialog_once_before_it_commits(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna, dialog_id = await offered_to_anna(desk)
    assert (await anna.post(f"/dialogs/{dialog_id}/accept"))[0] == 200

    with round_trips(desk, monkeypatch) as seen:
        status, body = await anna.post(f"/dialogs/{dialog_id}/reply", {"text": "Hello Zoe"})

    assert status == 200, body
    await desk.app.idle(paced=False)
    assert desk.channels[SALES].texts_to("zoe")[-1] == "Hello Zoe"
    # It was 8: her lines, and the service read the dialog twice more (to check who may write,
    # then to decide).
    assert len(seen) == 5, seen
    assert seen[: seen.index("dialogs.apply")].count("dialogs.dialog") == 1, seen
