"""What reading rows by column name costs: dialog rows read by name (the store's ``Row``, a dict
made from the statement's columns, as ``Tx.rows`` makes it) against the same values read by
position from a plain tuple, as the store read them before.

Two figures per way of reading: the columns alone (every column of a dialog row read once, as
``dialog_from`` reads them) and the whole row made into a ``Dialog``, which is what a read of the
store pays. Each is the best of several rounds, in µs per row.

    python bench/named_rows.py [--rows 2000] [--rounds 60]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from omniline.model import ChannelRef, Dialog, DialogStatus, Identity, Route
from omniline.store.rows import Choices, dialog_from, dt
from omniline.store.statements import statements_for

QUERY = statements_for("sqlite").dialog_by_id
COLUMNS = QUERY.columns


def raw_row(n: int) -> tuple[Any, ...]:
    """A dialog row as the driver returns it (a plain tuple), in the statement's column order."""
    values: dict[str, Any] = {
        "id": n,
        "line_id": "support",
        "client_id": n,
        "status": "active",
        "operator_id": "op-1",
        "pinned": 0,
        "opened_at": 1_760_000_000.0 + n,
        "closed_at": None,
        "rating": None,
        "choices": None,
        "hops": 1,
        "route": None,
        "tried": '["op-1"]',
        "awaiting_rating": 0,
        "identity_id": n,
        "channel_type": "telegram",
        "account": "main-bot",
        "external_id": f"client-{n}",
        "display_name": "Ann",
        "profile": '{"username": "ann"}',
    }
    return tuple(values[name] for name in COLUMNS)


# The position of each column, written out as the store's code did before rows had names.
(ID, LINE, CLIENT, STATUS, OPERATOR, PINNED, OPENED, CLOSED, RATING, CHOICES, HOPS, ROUTE, TRIED,
 AWAITING, _IDENTITY, CHANNEL, ACCOUNT, EXTERNAL, NAME, PROFILE) = range(20)  # fmt: skip
assert COLUMNS.index("profile") == PROFILE and COLUMNS.index("line_id") == LINE


def named(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The row as ``Tx.rows`` hands it over."""
    return dict(zip(COLUMNS, raw, strict=True))


def columns_by_name(rows: Sequence[tuple[Any, ...]]) -> int:
    seen = 0
    for raw in rows:
        row = named(raw)
        for name in COLUMNS:
            if row[name] is not None:
                seen += 1
    return seen


def columns_by_position(rows: Sequence[tuple[Any, ...]]) -> int:
    seen = 0
    width = range(len(COLUMNS))
    for row in rows:
        for i in width:
            if row[i] is not None:
                seen += 1
    return seen


def dialogs_by_name(rows: Sequence[tuple[Any, ...]]) -> int:
    return len([dialog_from(named(raw)) for raw in rows])


def dialog_by_position(row: tuple[Any, ...]) -> Dialog:
    """``dialog_from`` as it read a plain tuple."""
    choices = Choices.model_validate_json(row[CHOICES]).buttons if row[CHOICES] else ()
    return Dialog(
        id=row[ID],
        line_id=row[LINE],
        client_id=row[CLIENT],
        status=DialogStatus(row[STATUS]),
        operator_id=row[OPERATOR],
        pinned=bool(row[PINNED]),
        opened_at=dt(row[OPENED]),
        closed_at=dt(row[CLOSED]) if row[CLOSED] is not None else None,
        rating=row[RATING],
        pending_buttons=choices,
        hops=row[HOPS],
        route=Route(row[ROUTE]) if row[ROUTE] else None,
        tried=tuple(json.loads(row[TRIED])) if row[TRIED] else (),
        awaiting_rating=bool(row[AWAITING]),
        identity=Identity(
            channel=ChannelRef(type=row[CHANNEL], account=row[ACCOUNT]),
            external_id=row[EXTERNAL],
            display_name=row[NAME],
            profile=json.loads(row[PROFILE]),
        ),
    )


def dialogs_by_position(rows: Sequence[tuple[Any, ...]]) -> int:
    return len([dialog_by_position(raw) for raw in rows])


Work = Callable[[Sequence[tuple[Any, ...]]], int]


def compare(named: Work, positional: Work, rows: Sequence[Any], rounds: int) -> tuple[float, float]:
    """The fastest of ``rounds`` runs of each over ``rows``, in µs per row. The two take turns, so
    that a neighbour's load on a shared machine falls on both alike."""
    times: dict[Work, list[float]] = {named: [], positional: []}
    for _ in range(rounds):
        for work in (named, positional):
            start = time.perf_counter()
            work(rows)
            times[work].append(time.perf_counter() - start)
    return min(times[named]) / len(rows) * 1e6, min(times[positional]) / len(rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    rows = [raw_row(n) for n in range(1, args.rows + 1)]
    assert dialog_from(named(rows[0])) == dialog_by_position(rows[0])  # the same work

    print(f"{args.rows} dialog rows of {len(COLUMNS)} columns, best of {args.rounds} rounds")
    print(f"{'read':<28}{'by name µs/row':>16}{'by position µs/row':>20}{'ratio':>8}")
    for label, by_names, positional in (
        ("every column once", columns_by_name, columns_by_position),
        ("the row made a Dialog", dialogs_by_name, dialogs_by_position),
    ):
        by_name, by_position = compare(by_names, positional, rows, args.rounds)
        print(f"{label:<28}{by_name:>16.3f}{by_position:>20.3f}{by_name / by_position:>8.2f}")


if __name__ == "__main__":
    main()
