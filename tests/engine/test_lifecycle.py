"""The dialog lifecycle: the transition table, the one function that builds moves from it, and the
store refusing every move that is not in it (SQLite and PostgreSQL), with nothing kept."""

from __future__ import annotations

import ast
import itertools
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import omniline
from omniline.engine.lifecycle import (
    MOVES,
    OPENS_AS,
    TRANSITIONS,
    Transition,
    check_move,
    next_status,
    transition,
)
from omniline.engine.ports import LogAction, StatusAction
from omniline.errors import DialogError, IllegalTransition
from omniline.model import DialogStatus, Whispered
from omniline.store import SqlStore as Store
from omniline.store import open_store, upgrade
from omniline.testing.clock import VirtualClock
from omniline.testing.conformance.store import LINE, inbound, ingest, send
from omniline.testing.postgres import TemporaryPostgres

BOT, QUEUED, OFFERED, ACTIVE, CLOSED = (
    DialogStatus.BOT,
    DialogStatus.QUEUED,
    DialogStatus.OFFERED,
    DialogStatus.ACTIVE,
    DialogStatus.CLOSED,
)
PAIRS = list(itertools.product(DialogStatus, DialogStatus))
LEGAL = sorted(MOVES)
ILLEGAL = sorted(set(PAIRS) - MOVES)
ROOT = Path(omniline.__file__).parent
DOCS = ROOT.parent / "docs" / "open-lines.md"


# --- the table ------------------------------------------------------------------------------------


def test_the_table_has_every_transition_and_only_real_moves() -> None:
    assert set(TRANSITIONS) == set(Transition)
    for moves in TRANSITIONS.values():
        assert moves, "a transition that moves nothing"
    assert {BOT, QUEUED} == OPENS_AS


@pytest.mark.parametrize("which", list(Transition))
@pytest.mark.parametrize("current", list(DialogStatus))
def test_next_status_follows_the_table(current: DialogStatus, which: Transition) -> None:
    target = TRANSITIONS[which].get(current)
    if target is not None:
        assert next_status(current, which) is target
        return
    with pytest.raises(IllegalTransition, match=f"cannot {which.value} a dialog that is"):
        next_status(current, which)


def test_a_transition_that_does_not_fit_the_status_says_which_would() -> None:
    assert next_status(BOT, Transition.HANDOFF) is QUEUED
    with pytest.raises(DialogError, match="cannot accept a dialog that is closed"):
        next_status(CLOSED, Transition.ACCEPT)


def test_transition_builds_the_status_action_of_the_table() -> None:
    accept = transition(OFFERED, Transition.ACCEPT, operator_id="op-1", capacity=3)
    assert accept == StatusAction(expected=OFFERED, status=ACTIVE, operator_id="op-1", capacity=3)
    close = transition(ACTIVE, Transition.CLOSE)
    assert close == StatusAction(expected=ACTIVE, status=CLOSED)
    with pytest.raises(IllegalTransition):
        transition(CLOSED, Transition.CLOSE)


def test_only_a_transfer_counts_as_an_offer_and_only_a_withdrawal_or_new_line_starts_a_round() -> (
    None
):
    for which, moves in TRANSITIONS.items():
        for current in moves:
            action = transition(current, which)
            assert action.counts_as_offer is (which is Transition.TRANSFER)
            assert action.new_round is (which in (Transition.WITHDRAW, Transition.TRANSFER_TO_LINE))


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=lambda s: str(s.value))
def test_check_move_accepts_exactly_the_moves_of_the_table(
    before: DialogStatus, after: DialogStatus
) -> None:
    action = StatusAction(expected=before, status=after)
    if any(moves.get(before) is after for moves in TRANSITIONS.values()):
        check_move(action)
        return
    with pytest.raises(IllegalTransition, match=f"from {before.value} to {after.value}"):
        check_move(action)


def test_status_actions_are_built_only_by_the_lifecycle() -> None:
    """A ``StatusAction(...)`` written out by hand elsewhere in the package skips the table."""
    found = []
    for path in ROOT.rglob("*.py"):
        if path.parts[-3:-1] == ("testing", "conformance") or path.name == "lifecycle.py":
            continue  # the conformance suite builds moves by hand on purpose
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "StatusAction":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_every_declared_transition_is_made_by_the_code() -> None:
    """Transitions declared and never used let the table drift from what the code does."""
    used = set()
    for path in ROOT.rglob("*.py"):
        if path.name != "lifecycle.py" and "testing" not in path.relative_to(ROOT).parts:
            used |= set(re.findall(r"\bTransition\.(\w+)", path.read_text(encoding="utf-8")))
    assert {t.name for t in Transition} - used == set()


# --- the store refuses what is not in the table ---------------------------------------------------


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: VirtualClock
) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'omniline.db'}"
    else:
        server: TemporaryPostgres = request.getfixturevalue("temporary_postgres")
        url = server.create_database(f"lifecycle_{uuid.uuid4().hex[:12]}")
    await upgrade(url)
    opened = await open_store(url, clock)
    for operator_id in ("op-1", "op-2"):
        await opened.operators.save(operator_id, operator_id)
    try:
        yield opened
    finally:
        await opened.close()


_clients = itertools.count(1)


async def dialog_in(store: Store, clock: VirtualClock, status: DialogStatus) -> tuple[int, int]:
    """A new client's dialog brought to ``status`` by legal moves; returns its id and inbox id
    (left pending: the moves here are not its processing)."""
    start = BOT if status in (BOT, CLOSED) else QUEUED
    receipt = await ingest(store, inbound(clock, f"client-{next(_clients)}"), status=start)
    path = {
        BOT: [],
        QUEUED: [],
        OFFERED: [transition(QUEUED, Transition.OFFER, operator_id="op-1")],
        ACTIVE: [transition(QUEUED, Transition.ACCEPT, operator_id="op-1")],
        CLOSED: [transition(BOT, Transition.CLOSE)],
    }[status]
    for action in path:
        await store.dialogs.apply(receipt.dialog_id, [action])
    return receipt.dialog_id, receipt.inbox_id


def holder_for(status: DialogStatus) -> str | None:
    return "op-2" if status in (OFFERED, ACTIVE) else None


async def snapshot(store: Store, dialog_id: int) -> object:
    dialog = await store.dialogs.get(dialog_id)
    assert dialog is not None
    return (
        dialog.status,
        dialog.operator_id,
        dialog.hops,
        await store.dialogs.events(dialog_id),
        await store.dialogs.messages(dialog_id, with_internal=True),
        await store.operators.held_counts(),
    )


async def test_every_move_not_in_the_table_is_refused_and_nothing_is_kept(
    store: Store, clock: VirtualClock
) -> None:
    assert ILLEGAL, "every pair is a move: nothing to refuse"
    for before, after in ILLEGAL:
        dialog_id, inbox_id = await dialog_in(store, clock, before)
        kept = await snapshot(store, dialog_id)
        note = LogAction(event=Whispered(at=clock.now(), operator_id="op-1", text="must not stay"))
        illegal = StatusAction(expected=before, status=after, operator_id=holder_for(after))
        with pytest.raises(IllegalTransition, match=f"from {before.value} to {after.value}"):
            await store.dialogs.apply(dialog_id, [note, send(), illegal], inbox_id=inbox_id)
        assert await snapshot(store, dialog_id) == kept, (before, after)
        pending = await store.inbox.pending(before=clock.now())
        assert inbox_id in [p.receipt.inbox_id for p in pending], (before, after)


async def test_every_move_in_the_table_is_applied(store: Store, clock: VirtualClock) -> None:
    for before, after in LEGAL:
        dialog_id, _ = await dialog_in(store, clock, before)
        holder = holder_for(after)
        move = StatusAction(expected=before, status=after, operator_id=holder)
        await store.dialogs.apply(dialog_id, [move], guard=before)
        dialog = await store.dialogs.get(dialog_id)
        assert dialog is not None
        assert (dialog.status, dialog.operator_id) == (after, holder), (before, after)


async def test_a_dialog_opens_only_in_a_status_it_can_start_in(
    store: Store, clock: VirtualClock
) -> None:
    for status in DialogStatus:
        event = inbound(clock, f"client-{next(_clients)}")
        if status not in OPENS_AS:
            with pytest.raises(IllegalTransition, match=f"cannot open {status.value}"):
                await ingest(store, event, status=status)
            assert await store.dialogs.open_of(event.identity, LINE) is None, status
            receipt = await ingest(store, event, status=BOT)  # the refused one kept nothing
            assert not receipt.duplicate, status
        else:
            receipt = await ingest(store, event, status=status)
            assert receipt.dialog is not None and receipt.dialog.status is status


# --- the documentation ----------------------------------------------------------------------------


def diagram_edges() -> tuple[set[tuple[str, str, str]], set[str]]:
    """The transitions and the initial states of the lifecycle's Mermaid diagram in the docs."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(stateDiagram-v2\n.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/open-lines.md has one state diagram, the lifecycle's"
    edges, initial = set(), set()
    for line in blocks[0].splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("%%"):
            continue
        found = re.fullmatch(r"(\[\*\]|\w+) --> (\w+)(?: *: *(\w+))?", line)
        assert found is not None, f"not an edge of the diagram: {line!r}"
        before, after, label = found.groups()
        if before == "[*]":
            initial.add(after)
        else:
            assert label is not None, f"an edge without its transition: {line!r}"
            edges.add((before, after, label))
    return edges, initial


def test_the_docs_diagram_is_the_table() -> None:
    edges, initial = diagram_edges()
    assert edges == {
        (before.value, after.value, which.value)
        for which, moves in TRANSITIONS.items()
        for before, after in moves.items()
    }
    assert initial == {s.value for s in OPENS_AS}


def docs_table_moves() -> set[tuple[str, str, str]]:
    """The transitions the lifecycle's table in the docs lists, as (from, to, transition)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## The dialog lifecycle", 1)[1].split("\n## ", 1)[0]
    moves = set()
    for which, froms, to in re.findall(r"^\| `(\w+)` \| ([\w, ]+) → (\w+) \|", section, re.M):
        moves |= {(before.strip(), to, which) for before in froms.split(",")}
    return moves


def test_the_docs_table_is_the_table() -> None:
    assert docs_table_moves() == {
        (before.value, after.value, which.value)
        for which, moves in TRANSITIONS.items()
        for before, after in moves.items()
    }
