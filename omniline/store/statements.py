"""Every statement the store runs, written once in SQLAlchemy Core and compiled once per dialect.

The hot path hands the compiled SQL straight to the driver: SQLAlchemy's per-statement machinery
costs ten times the SQL itself on SQLite (see PERFORMANCE.md), compiling does not need repeating.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

from omniline.store.schema import (
    clients,
    dialog_events,
    dialog_members,
    dialog_offers,
    dialogs,
    identities,
    inbox,
    line_operators,
    messages,
    operators,
    outbox,
    plugin_state,
    timers,
)

Row = dict[str, Any]
"""One result row, read by its column's name: ``row["status"]``. A plain dict built from the
statement's own column names (:attr:`Query.columns`), so reading a column costs one dictionary
look-up in C, and a positional read (``row[0]``) is a type error."""


class Query:
    """A statement compiled for one dialect: positional SQL, the order of its parameters and the
    names of its result columns."""

    __slots__ = ("_pick", "columns", "defaults", "names", "sql")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        defaults: Mapping[str, Any],
        columns: tuple[str, ...] = (),
    ) -> None:
        self.sql = sql
        self.names = names
        self.defaults = dict(defaults)
        self.columns = columns
        pick = itemgetter(*names) if names else None
        self._pick: Callable[[Mapping[str, Any]], Any] | None = pick

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional arguments, from named ``params`` (constants of the statement filled in)."""
        if self._pick is None:
            return ()
        values = self._pick({**self.defaults, **params} if self.defaults else params)
        return values if len(self.names) > 1 else (values,)


def result_columns(stmt: sa.ClauseElement) -> tuple[str, ...]:
    """The names a statement's rows are read by: its selected (or returned) columns' keys.

    Two columns of one name would be told apart only by a made-up suffix, so that is refused:
    label one of them (``identities.c.id.label("identity_id")``).
    """
    found = getattr(stmt, "selected_columns", None)
    if found is None:
        found = getattr(stmt, "exported_columns", None)
    if found is None:
        return ()
    keys: list[str] = []
    for key, column in found.items():
        own = getattr(column, "key", None) or getattr(column, "name", None)
        if own is not None and own != key:
            raise ValueError(
                f"two result columns are named {own!r}: label one of them in the statement"
            )
        keys.append(key)
    return tuple(keys)


def compile_for(stmt: sa.ClauseElement, dialect: Dialect) -> Query:
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    # Values written into the statement (constants); the others must come with each execution.
    constants = {n: compiled.binds[n].value for n in names if not compiled.binds[n].required}
    return Query(compiled.string, names, constants, result_columns(stmt))


P = sa.bindparam


def lit(value: str) -> sa.ColumnElement[str]:
    """A constant written into the SQL. A bound value would keep SQLite from proving that a partial
    index applies when the statement is prepared, and it then re-plans on every execution."""
    assert "'" not in value
    return sa.literal_column(f"'{value}'", sa.Text)


_ALEMBIC_VERSION = sa.table("alembic_version", sa.column("version_num", sa.Text))
"""Alembic's own table: not part of the schema's metadata, which Alembic keeps it out of."""


def _earlier_pending(earlier: sa.FromClause, dialog_id: Any, inbox_id: Any) -> sa.ScalarSelect[Any]:
    """The first inbox row of ``dialog_id`` before ``inbox_id`` still to process (the partial
    index of pending rows finds it)."""
    return (
        sa.select(sa.func.min(earlier.c.id))
        .where(
            earlier.c.status == lit("pending"),
            earlier.c.dialog_id == dialog_id,
            earlier.c.id < inbox_id,
        )
        .scalar_subquery()
    )


MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.dialog_id,
    messages.c.client_id,
    messages.c.direction,
    messages.c.visibility,
    messages.c.author,
    messages.c.text,
    messages.c.content,
    messages.c.created_at,
)
DIALOG_COLUMNS = (
    dialogs.c.id,
    dialogs.c.line_id,
    dialogs.c.client_id,
    dialogs.c.status,
    dialogs.c.operator_id,
    dialogs.c.pinned,
    dialogs.c.opened_at,
    dialogs.c.closed_at,
    dialogs.c.rating,
    dialogs.c.choices,
    dialogs.c.hops,
    dialogs.c.route,
    dialogs.c.tried,
    dialogs.c.awaiting_rating,
    identities.c.id.label("identity_id"),
    identities.c.channel_type,
    identities.c.account,
    identities.c.external_id,
    identities.c.display_name,
    identities.c.profile,
)
OUTBOX_COLUMNS = (
    outbox.c.id,
    outbox.c.delivery_key,
    outbox.c.dialog_id,
    outbox.c.message_id,
    outbox.c.identity_id,
    outbox.c.payload,
    outbox.c.attempts,
    outbox.c.author,
)


UNSENT = sa.text("outbox.status IN ('pending', 'sending')")


class Statements:
    """The compiled statements for one dialect, as attributes."""

    def __init__(self, dialect: Dialect, insert: Callable[[sa.Table], Insert]) -> None:
        c = compile_for
        d = dialect
        self.dialect_name = dialect.name

        # inbox
        self.inbox_insert = c(
            insert(inbox)
            .values(
                channel_type=P("channel_type"),
                account=P("account"),
                event_id=P("event_id"),
                line_id=P("line_id"),
                payload=P("payload"),
                status="pending",
                received_at=P("now"),
            )
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["channel_type", "account", "event_id"]
            )
            .returning(inbox.c.id),
            d,
        )
        self.inbox_by_key = c(
            sa.select(inbox.c.id, inbox.c.dialog_id, inbox.c.message_id).where(
                inbox.c.channel_type == P("channel_type"),
                inbox.c.account == P("account"),
                inbox.c.event_id == P("event_id"),
            ),
            d,
        )
        self.inbox_placed = c(
            sa.update(inbox)
            .where(inbox.c.id == P("inbox_id"))
            .values(dialog_id=P("dialog_id"), message_id=P("message_id")),
            d,
        )
        self.inbox_done = c(
            sa.update(inbox)
            .where(inbox.c.id == P("inbox_id"), inbox.c.status == lit("pending"))
            .values(status=P("status"), error=P("error"), processed_at=P("now")),
            d,
        )
        # The same, and the first event of the dialog stored before this one and still to
        # process (NULL when there is none): processing in turn costs no statement of its own.
        earlier = inbox.alias("earlier")
        self.inbox_done_in_turn = c(
            sa.update(inbox)
            .where(inbox.c.id == P("inbox_id"), inbox.c.status == lit("pending"))
            .values(status=P("status"), error=P("error"), processed_at=P("now"))
            .returning(_earlier_pending(earlier, P("dialog_id"), P("inbox_id")).label("earlier")),
            d,
        )
        self.inbox_earlier_pending = c(
            sa.select(_earlier_pending(earlier, P("dialog_id"), P("inbox_id")).label("earlier")),
            d,
        )
        self.inbox_pending_of_dialog = c(
            sa.select(
                inbox.c.id, inbox.c.dialog_id, inbox.c.message_id, inbox.c.line_id, inbox.c.payload
            )
            .where(
                inbox.c.status == lit("pending"),
                inbox.c.dialog_id == P("dialog_id"),
                inbox.c.id < P("inbox_id"),
            )
            .order_by(inbox.c.id),
            d,
        )
        self.inbox_pending = c(
            sa.select(
                inbox.c.id, inbox.c.dialog_id, inbox.c.message_id, inbox.c.line_id, inbox.c.payload
            )
            .where(
                inbox.c.status == lit("pending"),
                inbox.c.dialog_id.is_not(None),
                inbox.c.received_at <= P("before"),
                inbox.c.id > P("after_id"),
            )
            .order_by(inbox.c.id)
            .limit(P("limit")),
            d,
        )

        # the schema revision Alembic recorded (the readiness check reads it)
        self.schema_revision = c(sa.select(_ALEMBIC_VERSION.c.version_num), d)

        # clients and identities
        self.client_insert = c(
            insert(clients)
            .values(display_name=P("display_name"), created_at=P("now"))
            .returning(clients.c.id),
            d,
        )
        self.identity_by_key = c(
            sa.select(
                identities.c.id,
                identities.c.client_id,
                identities.c.display_name,
                identities.c.profile,
            ).where(
                identities.c.channel_type == P("channel_type"),
                identities.c.account == P("account"),
                identities.c.external_id == P("external_id"),
            ),
            d,
        )
        self.identity_insert = c(
            insert(identities)
            .values(
                client_id=P("client_id"),
                channel_type=P("channel_type"),
                account=P("account"),
                external_id=P("external_id"),
                display_name=P("display_name"),
                profile=P("profile"),
                created_at=P("now"),
                updated_at=P("now"),
            )
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["channel_type", "account", "external_id"]
            )
            .returning(identities.c.id),
            d,
        )
        self.identity_update = c(
            sa.update(identities)
            .where(identities.c.id == P("identity_id"))
            .values(display_name=P("display_name"), profile=P("profile"), updated_at=P("now")),
            d,
        )
        self.identity_one = c(
            sa.select(
                identities.c.id,
                identities.c.channel_type,
                identities.c.account,
                identities.c.external_id,
                identities.c.display_name,
                identities.c.profile,
            ).where(identities.c.id == P("identity_id")),
            d,
        )

        # dialogs
        joined = dialogs.join(identities, identities.c.id == dialogs.c.identity_id)
        # An identity has at most one open dialog: its channel belongs to one line, and a dialog
        # transferred to another line stays the identity's open dialog there.
        self.dialog_open_of = c(
            sa.select(*DIALOG_COLUMNS)
            .select_from(joined)
            .where(
                dialogs.c.identity_id == P("identity_id"),
                dialogs.c.status != lit("closed"),
            ),
            d,
        )
        # One round: the identity and its open dialog (dialog columns NULL if none).
        open_on_line = sa.and_(
            dialogs.c.identity_id == identities.c.id,
            dialogs.c.status != lit("closed"),
        )
        self.identity_with_open_dialog = c(
            sa.select(
                identities.c.id.label("known_id"),
                identities.c.client_id.label("known_client_id"),
                identities.c.display_name.label("known_display_name"),
                identities.c.profile.label("known_profile"),
                *DIALOG_COLUMNS,
            )
            .select_from(identities.outerjoin(dialogs, open_on_line))
            .where(
                identities.c.channel_type == P("channel_type"),
                identities.c.account == P("account"),
                identities.c.external_id == P("external_id"),
            ),
            d,
        )
        self.dialog_state = c(
            sa.select(
                dialogs.c.status,
                dialogs.c.client_id,
                dialogs.c.identity_id,
                dialogs.c.choices,
                dialogs.c.operator_id,
                dialogs.c.line_id,
                dialogs.c.hops,
                dialogs.c.tried,
            ).where(dialogs.c.id == P("dialog_id")),
            d,
        )
        self.dialog_by_id = c(
            sa.select(*DIALOG_COLUMNS).select_from(joined).where(dialogs.c.id == P("dialog_id")),
            d,
        )
        self.dialog_insert = c(
            insert(dialogs)
            .values(
                line_id=P("line_id"),
                client_id=P("client_id"),
                identity_id=P("identity_id"),
                status=P("status"),
                pinned=False,
                opened_at=P("now"),
            )
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["identity_id"], index_where=sa.text("status <> 'closed'")
            )
            .returning(dialogs.c.id),
            d,
        )
        self.dialog_set_status = c(
            sa.update(dialogs)
            .where(
                dialogs.c.id == P("dialog_id"),
                dialogs.c.status == P("expected"),
                sa.func.coalesce(dialogs.c.operator_id, "") == P("expected_operator"),
            )
            .values(
                status=P("status"),
                operator_id=P("operator_id"),
                closed_at=P("closed_at"),
                hops=dialogs.c.hops + P("hop"),
                route=P("route"),
                tried=P("tried"),
            ),
            d,
        )
        self.dialog_set_fields = {
            name: c(
                sa.update(dialogs).where(dialogs.c.id == P("dialog_id")).values({name: P("value")}),
                d,
            )
            for name in ("pinned", "awaiting_rating", "rating", "route", "line_id")
        }
        self.dialog_last_closed = c(
            sa.select(*DIALOG_COLUMNS)
            .select_from(joined)
            .where(
                dialogs.c.identity_id == P("identity_id"),
                dialogs.c.line_id == P("line_id"),
                dialogs.c.status == lit("closed"),
            )
            .order_by(dialogs.c.id.desc())
            .limit(1),
            d,
        )
        self.dialog_reopen = c(
            sa.update(dialogs)
            .where(dialogs.c.id == P("dialog_id"), dialogs.c.status == lit("closed"))
            .values(
                status=P("status"),
                closed_at=None,
                route=None,
                tried=None,
                awaiting_rating=False,
            ),
            d,
        )
        self.last_operator_of_client = c(
            sa.select(dialogs.c.operator_id)
            .where(
                dialogs.c.client_id == P("client_id"),
                dialogs.c.line_id == P("line_id"),
                dialogs.c.status == lit("closed"),
                dialogs.c.closed_at >= P("since"),
                dialogs.c.operator_id.is_not(None),
            )
            .order_by(dialogs.c.closed_at.desc())
            .limit(1),
            d,
        )
        self.waiting_on_line = c(
            sa.select(dialogs.c.id)
            .where(
                dialogs.c.line_id == P("line_id"),
                sa.text("route IN ('waiting', 'parked')"),
            )
            .order_by(dialogs.c.id)
            .limit(P("limit")),
            d,
        )
        self.dialog_set_choices = c(
            sa.update(dialogs).where(dialogs.c.id == P("dialog_id")).values(choices=P("choices")),
            d,
        )

        # messages
        self.message_insert = c(
            insert(messages)
            .values(
                dialog_id=P("dialog_id"),
                client_id=P("client_id"),
                identity_id=P("identity_id"),
                direction=P("direction"),
                visibility=P("visibility"),
                author=P("author"),
                text=P("text"),
                content=P("content"),
                created_at=P("now"),
            )
            .returning(messages.c.id),
            d,
        )
        for name, column in (
            ("dialog", messages.c.dialog_id),
            ("client", messages.c.client_id),
            ("identity", messages.c.identity_id),
        ):
            for internal in (False, True):
                conditions = [column == P("owner_id"), messages.c.id > P("after_id")]
                if not internal:
                    conditions.append(messages.c.visibility == lit("client"))
                stmt = (
                    sa.select(*MESSAGE_COLUMNS)
                    .where(*conditions)
                    .order_by(messages.c.id)
                    .limit(P("limit"))
                )
                setattr(self, f"messages_of_{name}{'_all' if internal else ''}", c(stmt, d))

        # dialog events
        self.event_insert = c(
            insert(dialog_events).values(
                dialog_id=P("dialog_id"),
                kind=P("kind"),
                at=P("at"),
                actor=P("actor"),
                data=P("data"),
            ),
            d,
        )
        self.events_of_dialog = c(
            sa.select(dialog_events.c.data)
            .where(dialog_events.c.dialog_id == P("dialog_id"))
            .order_by(dialog_events.c.id),
            d,
        )

        # outbox
        self.outbox_insert = c(
            insert(outbox)
            .values(
                delivery_key=P("delivery_key"),
                dialog_id=P("dialog_id"),
                message_id=P("message_id"),
                identity_id=P("identity_id"),
                author=P("author"),
                payload=P("payload"),
                status=P("status"),
                attempts=P("attempts"),
                next_attempt_at=P("now"),
                lease_until=P("lease_until"),
                created_at=P("now"),
            )
            .returning(outbox.c.id),
            d,
        )
        due = (
            sa.select(outbox.c.id)
            .where(
                UNSENT,  # as the partial index says it, so the planner can use that index
                sa.or_(
                    sa.and_(
                        outbox.c.status == lit("pending"), outbox.c.next_attempt_at <= P("now")
                    ),
                    sa.and_(outbox.c.status == lit("sending"), outbox.c.lease_until <= P("now")),
                ),
            )
            .order_by(outbox.c.id)
            .limit(P("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        self.outbox_claim = c(
            sa.update(outbox)
            .where(outbox.c.id.in_(due))
            .values(status="sending", lease_until=P("lease_until"), attempts=outbox.c.attempts + 1)
            .returning(*OUTBOX_COLUMNS),
            d,
        )
        self.outbox_sent = c(
            sa.update(outbox)
            .where(outbox.c.id == P("outbox_id"))
            .values(
                status="sent",
                platform_message_id=P("platform_message_id"),
                sent_at=P("now"),
                lease_until=None,
            ),
            d,
        )
        self.outbox_retry = c(
            sa.update(outbox)
            .where(outbox.c.id == P("outbox_id"))
            .values(
                status="pending",
                error=P("error"),
                next_attempt_at=P("next_attempt_at"),
                lease_until=None,
            ),
            d,
        )
        self.outbox_failed = c(
            sa.update(outbox)
            .where(outbox.c.id == P("outbox_id"))
            .values(status="failed", error=P("error"), lease_until=None),
            d,
        )
        self.outbox_by_id = c(
            sa.select(
                outbox.c.id,
                outbox.c.status,
                outbox.c.platform_message_id,
                outbox.c.error,
                outbox.c.next_attempt_at,
            ).where(outbox.c.id == P("outbox_id")),
            d,
        )

        # operators and queues
        self.operator_upsert = c(
            insert(operators)
            .values(
                id=P("operator_id"),
                name=P("name"),
                presence=lit("offline"),
                shift=lit("not_started"),
                capacity=P("capacity"),
                load=0,
                updated_at=P("now"),
            )
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["id"], set_={"name": P("name"), "capacity": P("capacity")}
            ),
            d,
        )
        operator_columns = (
            operators.c.id,
            operators.c.name,
            operators.c.presence,
            operators.c.shift,
            operators.c.capacity,
            operators.c.load,
        )
        self.operator_one = c(
            sa.select(*operator_columns).where(operators.c.id == P("operator_id")), d
        )
        self.operators_all = c(sa.select(*operator_columns).order_by(operators.c.id), d)
        for name in ("presence", "shift", "capacity"):
            setattr(
                self,
                f"operator_set_{name}",
                c(
                    sa.update(operators)
                    .where(operators.c.id == P("operator_id"))
                    .values({name: P("value"), "updated_at": P("now")}),
                    d,
                ),
            )
        available = sa.and_(
            sa.or_(operators.c.presence == lit("online"), P("any_presence") == 1),
            sa.or_(operators.c.shift == lit("working"), P("any_shift") == 1),
        )
        has_room = operators.c.load < sa.func.coalesce(operators.c.capacity, P("capacity"))
        # The one statement that decides an assignment: it raises the operator's load only while
        # they have room (and are available), so two concurrent offers can never overfill them.
        self.operator_take = c(
            sa.update(operators)
            .where(operators.c.id == P("operator_id"), has_room, available)
            .values(load=operators.c.load + 1)
            .returning(operators.c.id),
            d,
        )
        self.operator_release = c(
            sa.update(operators)
            .where(operators.c.id == P("operator_id"), operators.c.load > 0)
            .values(load=operators.c.load - 1),
            d,
        )
        queue = line_operators.join(operators, operators.c.id == line_operators.c.operator_id)
        candidates = (
            sa.select(line_operators.c.operator_id, line_operators.c.received, operators.c.load)
            .select_from(queue)
            .where(line_operators.c.line_id == P("line_id"), has_room, available)
            .limit(P("limit"))
        )
        # One statement per ``Order`` a distribution strategy may read the queue in.
        self.candidates_by_position = c(candidates.order_by(line_operators.c.position), d)
        self.candidates_by_received = c(
            candidates.order_by(line_operators.c.received, line_operators.c.position), d
        )
        # Readiness, kept in step with the operators row (see ``line_operators.ready``).
        is_ready = sa.exists(
            sa.select(operators.c.id).where(
                operators.c.id == line_operators.c.operator_id,
                operators.c.presence == lit("online"),
                operators.c.shift == lit("working"),
                operators.c.load
                < sa.func.coalesce(operators.c.capacity, line_operators.c.line_capacity),
            )
        )
        self.refresh_ready = c(
            sa.update(line_operators)
            .where(line_operators.c.operator_id == P("operator_id"))
            .values(ready=is_ready),
            d,
        )
        self.refresh_line = c(
            sa.update(line_operators)
            .where(line_operators.c.line_id == P("line_id"))
            .values(line_capacity=P("capacity"), ready=is_ready),
            d,
        )
        self.line_capacity = c(
            sa.select(line_operators.c.line_capacity)
            .where(line_operators.c.line_id == P("line_id"))
            .limit(1),
            d,
        )
        ready = sa.text(
            "line_operators.ready = 1" if d.name == "sqlite" else "line_operators.ready"
        )
        ready_rows = (
            sa.select(line_operators.c.operator_id, line_operators.c.received, operators.c.load)
            .select_from(queue)
            .where(line_operators.c.line_id == P("line_id"), ready)
            .limit(P("limit"))
        )
        self.ready_by_position = c(ready_rows.order_by(line_operators.c.position), d)
        self.ready_by_received = c(
            ready_rows.order_by(line_operators.c.received, line_operators.c.position), d
        )
        self.queue_has_available = c(
            sa.select(line_operators.c.operator_id)
            .select_from(queue)
            .where(line_operators.c.line_id == P("line_id"), available)
            .limit(1),
            d,
        )
        self.queue_in_order = c(
            sa.select(line_operators.c.operator_id)
            .where(line_operators.c.line_id == P("line_id"))
            .order_by(line_operators.c.position)
            .limit(P("limit")),
            d,
        )
        self.queue_received = c(
            sa.update(line_operators)
            .where(
                line_operators.c.line_id == P("line_id"),
                line_operators.c.operator_id == P("operator_id"),
            )
            .values(received=line_operators.c.received + 1),
            d,
        )
        self.queue_upsert = c(
            insert(line_operators)
            .values(
                line_id=P("line_id"),
                operator_id=P("operator_id"),
                position=P("position"),
                received=0,
            )
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["line_id", "operator_id"], set_={"position": P("position")}
            ),
            d,
        )
        self.queue_remove = c(
            sa.delete(line_operators).where(
                line_operators.c.line_id == P("line_id"),
                line_operators.c.operator_id == P("operator_id"),
            ),
            d,
        )
        self.queue_all = c(
            sa.select(line_operators.c.operator_id)
            .where(line_operators.c.line_id == P("line_id"))
            .order_by(line_operators.c.position),
            d,
        )
        self.lines_of_operator = c(
            sa.select(line_operators.c.line_id).where(
                line_operators.c.operator_id == P("operator_id")
            ),
            d,
        )
        self.offer_insert = c(
            insert(dialog_offers).values(
                dialog_id=P("dialog_id"), operator_id=P("operator_id"), offered_at=P("now")
            ),
            d,
        )
        self.offers_of_dialog = c(
            sa.select(dialog_offers.c.operator_id)
            .where(dialog_offers.c.dialog_id == P("dialog_id"))
            .order_by(dialog_offers.c.operator_id),
            d,
        )
        self.offers_delete = c(
            sa.delete(dialog_offers).where(dialog_offers.c.dialog_id == P("dialog_id")), d
        )
        self.member_insert = c(
            insert(dialog_members)
            .values(dialog_id=P("dialog_id"), operator_id=P("operator_id"), joined_at=P("now"))
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["dialog_id", "operator_id"]
            ),
            d,
        )
        self.member_delete = c(
            sa.delete(dialog_members).where(
                dialog_members.c.dialog_id == P("dialog_id"),
                dialog_members.c.operator_id == P("operator_id"),
            ),
            d,
        )
        self.members_of_dialog = c(
            sa.select(dialog_members.c.operator_id)
            .where(dialog_members.c.dialog_id == P("dialog_id"))
            .order_by(dialog_members.c.joined_at),
            d,
        )
        self.held_counts = c(
            sa.select(dialogs.c.operator_id, sa.func.count().label("held"))
            .where(dialogs.c.status.in_([lit("offered"), lit("active")]))
            .where(dialogs.c.operator_id.is_not(None))
            .group_by(dialogs.c.operator_id),
            d,
        )

        # the feed for desks: everything that happened, in order
        self.events_after = c(
            sa.select(dialog_events.c.id, dialog_events.c.dialog_id, dialog_events.c.data)
            .where(dialog_events.c.id > P("after_id"))
            .order_by(dialog_events.c.id)
            .limit(P("limit")),
            d,
        )
        self.messages_after = c(
            sa.select(*MESSAGE_COLUMNS)
            .where(messages.c.id > P("after_id"))
            .order_by(messages.c.id)
            .limit(P("limit")),
            d,
        )
        self.feed_end = c(
            sa.select(
                sa.select(sa.func.coalesce(sa.func.max(dialog_events.c.id), 0))
                .scalar_subquery()
                .label("event_id"),
                sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0))
                .scalar_subquery()
                .label("message_id"),
            ),
            d,
        )
        self.state_get = c(
            sa.select(plugin_state.c.value).where(
                plugin_state.c.owner == P("owner"), plugin_state.c.key == P("key")
            ),
            d,
        )
        self.state_put = c(
            insert(plugin_state)
            .values(owner=P("owner"), key=P("key"), value=P("value"), updated_at=P("now"))
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["owner", "key"],
                set_={"value": P("value"), "updated_at": P("now")},
            ),
            d,
        )

        # timers
        self.timer_upsert = c(
            insert(timers)
            .values(
                kind=P("kind"),
                key=P("key"),
                dialog_id=P("dialog_id"),
                due_at=P("due_at"),
                data=P("data"),
                status="pending",
            )
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["kind", "key"],
                set_={
                    "dialog_id": P("dialog_id"),
                    "due_at": P("due_at"),
                    "data": P("data"),
                    "status": "pending",
                    "lease_until": None,
                    "fired_at": None,
                },
            ),
            d,
        )
        self.timer_cancel = c(
            sa.delete(timers).where(timers.c.kind == P("kind"), timers.c.key == P("key")), d
        )
        self.timer_rearm = c(
            sa.update(timers)
            .where(
                timers.c.kind == P("kind"),
                timers.c.key == P("key"),
                timers.c.status != lit("pending"),
            )
            .values(status="pending", lease_until=None, fired_at=None),
            d,
        )
        due_timers = (
            sa.select(timers.c.id)
            .where(
                sa.or_(
                    sa.and_(timers.c.status == lit("pending"), timers.c.due_at <= P("now")),
                    sa.and_(timers.c.status == lit("claimed"), timers.c.lease_until <= P("now")),
                )
            )
            .order_by(timers.c.due_at, timers.c.id)
            .limit(P("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        self.timer_claim = c(
            sa.update(timers)
            .where(timers.c.id.in_(due_timers))
            .values(status="claimed", lease_until=P("lease_until"))
            .returning(
                timers.c.id,
                timers.c.kind,
                timers.c.key,
                timers.c.due_at,
                timers.c.dialog_id,
                timers.c.data,
            ),
            d,
        )
        self.timer_done = c(
            sa.update(timers)
            .where(timers.c.id == P("timer_id"), timers.c.status == lit("claimed"))
            .values(status="done", fired_at=P("now"), lease_until=None),
            d,
        )


_cache: dict[str, Statements] = {}


Built = TypeVar("Built")


class PerDialect(Generic[Built]):
    """Statements of one part of the store (the embedded CRM, the tracker...), compiled once per
    dialect, on first use: ``build`` takes the dialect's name."""

    def __init__(self, build: Callable[[str], Built]) -> None:
        self._build = build
        self._built: dict[str, Built] = {}

    def of(self, dialect_name: str) -> Built:
        found = self._built.get(dialect_name)
        if found is None:
            found = self._built[dialect_name] = self._build(dialect_name)
        return found


def dialect_for(dialect_name: str) -> tuple[Dialect, Callable[[sa.Table], Insert]]:
    """The dialect the store's SQL is compiled for, and its INSERT (with ON CONFLICT)."""
    if dialect_name == "sqlite":
        return sqlite.dialect(paramstyle="qmark"), sqlite.insert
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

        return asyncpg_dialect(), postgresql.insert  # type: ignore[no-untyped-call]
    raise ValueError(f"unsupported database dialect {dialect_name!r}")


def statements_for(dialect_name: str) -> Statements:
    """The compiled statements for ``sqlite`` or ``postgresql`` (compiled on first use)."""
    found = _cache.get(dialect_name)
    if found is None:
        found = _cache[dialect_name] = Statements(*dialect_for(dialect_name))
    return found


_compile = compile_for  # the name the statistics queries use
