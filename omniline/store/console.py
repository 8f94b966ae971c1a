"""What the console reads and writes beside the store's own methods: dialog lists with filters,
the people around a dialog, a client's identities and dialogs, uploaded files and the dialogs
opened per day.

Lists are keyset-paginated (``id < cursor``, newest first), so a page costs the same wherever it
is, and filters are bound parameters of statements compiled once per shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa

from omniline.model import Dialog, DialogStatus, Identity
from omniline.store.executor import Executor, Tx
from omniline.store.rows import dialog_from, identity_from
from omniline.store.schema import (
    dialog_members,
    dialog_offers,
    dialogs,
    files,
    identities,
    messages,
)
from omniline.store.statements import (
    DIALOG_COLUMNS,
    P,
    PerDialect,
    Query,
    compile_for,
    dialect_for,
)


@dataclass(frozen=True)
class DialogFilter:
    """Which dialogs to list. ``visible_lines`` (None: all) and ``operator_self`` limit what an
    account may see: dialogs of those lines, or held by that operator."""

    lines: tuple[str, ...] = ()
    statuses: tuple[DialogStatus, ...] = ()
    operator_id: str | None = None
    channel_type: str | None = None
    client_id: int | None = None
    visible_lines: tuple[str, ...] | None = None
    operator_self: str | None = None


@dataclass(frozen=True)
class DialogPeople:
    offered_to: dict[int, list[str]] = field(default_factory=dict)
    members: dict[int, list[str]] = field(default_factory=dict)
    last_message: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFile:
    id: str
    name: str
    mime_type: str
    size: int
    data: bytes


_joined = dialogs.join(identities, identities.c.id == dialogs.c.identity_id)
_shapes: dict[tuple[object, ...], Query] = {}


def _in(column: sa.ColumnElement[str], name: str, count: int) -> sa.ColumnElement[bool]:
    return column.in_([P(f"{name}{i}") for i in range(count)])


def _list_query(dialect_name: str, f: DialogFilter, limit: int) -> Query:
    """The listing statement for this filter's shape (which filters are set, how many values),
    compiled once per shape and dialect."""
    shape = (
        dialect_name,
        len(f.lines),
        len(f.statuses),
        f.operator_id is not None,
        f.channel_type is not None,
        f.client_id is not None,
        None if f.visible_lines is None else len(f.visible_lines),
        f.operator_self is not None,
    )
    found = _shapes.get(shape)
    if found is not None:
        return found
    d = dialogs.c
    conditions: list[sa.ColumnElement[bool]] = [d.id < P("before")]
    if f.lines:
        conditions.append(_in(d.line_id, "line", len(f.lines)))
    if f.statuses:
        conditions.append(_in(d.status, "status", len(f.statuses)))
    if f.operator_id is not None:
        conditions.append(d.operator_id == P("operator_id"))
    if f.channel_type is not None:
        conditions.append(identities.c.channel_type == P("channel_type"))
    if f.client_id is not None:
        conditions.append(d.client_id == P("client_id"))
    if f.visible_lines is not None:
        seen = _in(d.line_id, "visible", len(f.visible_lines)) if f.visible_lines else sa.false()
        if f.operator_self is not None:
            seen = sa.or_(seen, d.operator_id == P("operator_self"))
        conditions.append(seen)
    stmt = (
        sa.select(*DIALOG_COLUMNS)
        .select_from(_joined)
        .where(*conditions)
        .order_by(d.id.desc())
        .limit(P("limit"))
    )
    dialect, _ = dialect_for(dialect_name)
    query = _shapes[shape] = compile_for(stmt, dialect)
    return query


def _list(tx: Tx, f: DialogFilter, before: int, limit: int) -> list[Dialog]:
    params: dict[str, object] = {"before": before, "limit": limit}
    params.update({f"line{i}": v for i, v in enumerate(f.lines)})
    params.update({f"status{i}": v.value for i, v in enumerate(f.statuses)})
    params.update({f"visible{i}": v for i, v in enumerate(f.visible_lines or ())})
    params.update(
        operator_id=f.operator_id,
        channel_type=f.channel_type,
        client_id=f.client_id,
        operator_self=f.operator_self,
    )
    query = _list_query(tx.q.dialect_name, f, limit)
    return [dialog_from(row) for row in tx.rows(query, params)]


def _people_queries(dialect_name: str, count: int) -> tuple[Query, Query, Query]:
    key = ("people", dialect_name, count)
    found = _people_shapes.get(key)
    if found is not None:
        return found
    dialect, _ = dialect_for(dialect_name)
    o, m, msg = dialog_offers.c, dialog_members.c, messages.c
    built = (
        compile_for(
            sa.select(o.dialog_id, o.operator_id)
            .where(_in(o.dialog_id, "d", count))
            .order_by(o.dialog_id, o.offered_at, o.operator_id),
            dialect,
        ),
        compile_for(
            sa.select(m.dialog_id, m.operator_id)
            .where(_in(m.dialog_id, "d", count))
            .order_by(m.dialog_id, m.joined_at, m.operator_id),
            dialect,
        ),
        compile_for(
            sa.select(msg.dialog_id, sa.func.max(msg.id).label("last_id"))
            .where(_in(msg.dialog_id, "d", count))
            .group_by(msg.dialog_id),
            dialect,
        ),
    )
    _people_shapes[key] = built
    return built


_people_shapes: dict[tuple[object, ...], tuple[Query, Query, Query]] = {}
PEOPLE_BATCH = 50


def _people(tx: Tx, dialog_ids: Sequence[int]) -> DialogPeople:
    people = DialogPeople()
    for start in range(0, len(dialog_ids), PEOPLE_BATCH):
        chunk = list(dialog_ids[start : start + PEOPLE_BATCH])
        offers_q, members_q, last_q = _people_queries(tx.q.dialect_name, len(chunk))
        params = {f"d{i}": v for i, v in enumerate(chunk)}
        for row in tx.rows(offers_q, params):
            people.offered_to.setdefault(int(row["dialog_id"]), []).append(row["operator_id"])
        for row in tx.rows(members_q, params):
            people.members.setdefault(int(row["dialog_id"]), []).append(row["operator_id"])
        for row in tx.rows(last_q, params):
            people.last_message[int(row["dialog_id"])] = int(row["last_id"])
    return people


class _ClientQueries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)
        i, fl = identities.c, files.c
        self.identities = compile_for(
            sa.select(i.channel_type, i.account, i.external_id, i.display_name, i.profile)
            .where(i.client_id == P("client_id"))
            .order_by(i.id),
            dialect,
        )
        self.file_insert = compile_for(
            insert(files).values(
                id=P("id"),
                account_id=P("account_id"),
                name=P("name"),
                mime_type=P("mime_type"),
                size=P("size"),
                data=P("data"),
                created_at=P("now"),
            ),
            dialect,
        )
        self.file = compile_for(
            sa.select(fl.id, fl.name, fl.mime_type, fl.size, fl.data).where(fl.id == P("id")),
            dialect,
        )


_client_queries = PerDialect(_ClientQueries)


def _cq(tx: Tx) -> _ClientQueries:
    return _client_queries.of(tx.q.dialect_name)


def _identities(tx: Tx, client_id: int) -> list[Identity]:
    rows = tx.rows(_cq(tx).identities, {"client_id": client_id})
    return [identity_from(row) for row in rows]


def _save_file(
    tx: Tx, file_id: str, account_id: str, name: str, mime_type: str, data: bytes, now: float
) -> None:
    tx.run(
        _cq(tx).file_insert,
        {
            "id": file_id,
            "account_id": account_id,
            "name": name,
            "mime_type": mime_type,
            "size": len(data),
            "data": data,
            "now": now,
        },
    )


def _file(tx: Tx, file_id: str) -> StoredFile | None:
    row = tx.first(_cq(tx).file, {"id": file_id})
    if row is None:
        return None
    return StoredFile(
        id=row["id"],
        name=row["name"],
        mime_type=row["mime_type"],
        size=int(row["size"]),
        data=bytes(row["data"]),
    )


class ConsoleRepository:
    """The console's reads and writes: each method one transaction."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def dialogs(self, f: DialogFilter, *, before: int | None, limit: int) -> list[Dialog]:
        return await self._x.run(
            partial(_list, f=f, before=before if before is not None else 2**62, limit=limit)
        )

    async def people(self, dialog_ids: Sequence[int]) -> DialogPeople:
        if not dialog_ids:
            return DialogPeople()
        return await self._x.run(partial(_people, dialog_ids=list(dialog_ids)))

    async def identities(self, client_id: int) -> list[Identity]:
        return await self._x.run(partial(_identities, client_id=client_id))

    async def save_file(
        self, file_id: str, *, account_id: str, name: str, mime_type: str, data: bytes, now: float
    ) -> None:
        await self._x.run(
            partial(
                _save_file,
                file_id=file_id,
                account_id=account_id,
                name=name,
                mime_type=mime_type,
                data=data,
                now=now,
            )
        )

    async def file(self, file_id: str) -> StoredFile | None:
        return await self._x.run(partial(_file, file_id=file_id))

    async def by_ids(self, dialog_ids: Sequence[int]) -> dict[int, Dialog]:
        if not dialog_ids:
            return {}
        return await self._x.run(partial(_dialogs_by_ids, dialog_ids=sorted(set(dialog_ids))))

    async def opened_by_day(
        self, *, since: float, until: float, line_id: str | None
    ) -> list[tuple[str, int]]:
        """Dialogs opened on each UTC day of [since, until), days without any included."""
        return await self._x.run(partial(_opened_by_day, since=since, until=until, line_id=line_id))


def _day_query(dialect_name: str, with_line: bool) -> Query:
    key = ("days", dialect_name, with_line)
    found = _day_shapes.get(key)
    if found is not None:
        return found
    d = dialogs.c
    # Times are seconds since the epoch (>= 0): the integer part of a division is the UTC day.
    day = (
        sa.cast(d.opened_at / 86400, sa.Integer)
        if dialect_name == "sqlite"
        else sa.cast(sa.func.floor(d.opened_at / 86400), sa.Integer)
    )
    conditions = [d.opened_at >= P("since"), d.opened_at < P("until")]
    if with_line:
        conditions.append(d.line_id == P("line_id"))
    stmt = (
        sa.select(day.label("day"), sa.func.count().label("dialogs"))
        .where(*conditions)
        .group_by(day)
        .order_by(day)
    )
    dialect, _ = dialect_for(dialect_name)
    found = _day_shapes[key] = compile_for(stmt, dialect)
    return found


_day_shapes: dict[tuple[object, ...], Query] = {}
MAX_DAYS = 1000


def _opened_by_day(
    tx: Tx, since: float, until: float, line_id: str | None
) -> list[tuple[str, int]]:
    query = _day_query(tx.q.dialect_name, line_id is not None)
    rows = tx.rows(query, {"since": since, "until": until, "line_id": line_id})
    counts = {int(row["day"]): int(row["dialogs"]) for row in rows}
    first, last = int(since // 86400), int((until - 1e-6) // 86400)
    if last - first > MAX_DAYS:  # a long range: the days that had dialogs only
        return [
            (datetime.fromtimestamp(d * 86400, UTC).date().isoformat(), n)
            for d, n in counts.items()
        ]
    return [
        (datetime.fromtimestamp(day * 86400, UTC).date().isoformat(), counts.get(day, 0))
        for day in range(first, last + 1)
    ]


def _by_ids_query(dialect_name: str, count: int) -> Query:
    key = ("ids", dialect_name, count)
    found = _shapes.get(key)
    if found is None:
        dialect, _ = dialect_for(dialect_name)
        stmt = sa.select(*DIALOG_COLUMNS).select_from(_joined).where(_in(dialogs.c.id, "d", count))
        found = _shapes[key] = compile_for(stmt, dialect)
    return found


def _dialogs_by_ids(tx: Tx, dialog_ids: Sequence[int]) -> dict[int, Dialog]:
    found: dict[int, Dialog] = {}
    for start in range(0, len(dialog_ids), PEOPLE_BATCH):
        chunk = list(dialog_ids[start : start + PEOPLE_BATCH])
        query = _by_ids_query(tx.q.dialect_name, len(chunk))
        for row in tx.rows(query, {f"d{i}": v for i, v in enumerate(chunk)}):
            dialog = dialog_from(row)
            found[dialog.id] = dialog
    return found
