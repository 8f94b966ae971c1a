"""The chat tracker in the database: one client across channels.

Every phone and email an identity gives is kept (``client_contacts``), with the message it came
in. When another client already gave the same value, the identity's client is merged into that
one: its identities, dialogs and messages move, and each move is written down with its reason
(``client_links``). An operator can undo a link: the identity and its history move back, and that
value never links that identity again.
"""

from __future__ import annotations

import sqlalchemy as sa

from omniline.model import ClientLink as Link
from omniline.store.executor import Tx
from omniline.store.schema import (
    client_contacts,
    client_links,
    client_records,
    dialogs,
    identities,
    messages,
)
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

TRACKED = ("phone", "email")


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        self.remember = c(
            insert(client_contacts)
            .values(
                identity_id=P("identity_id"),
                type=P("type"),
                value=P("value"),
                message_id=P("message_id"),
                first_seen=P("now"),
            )
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["identity_id", "type", "value"]
            )
        )
        given_by = client_contacts.join(
            identities, identities.c.id == client_contacts.c.identity_id
        )
        self.other_client = c(
            sa.select(identities.c.client_id)
            .select_from(given_by)
            .where(
                client_contacts.c.type == P("type"),
                client_contacts.c.value == P("value"),
                identities.c.client_id != P("client_id"),
            )
            .order_by(client_contacts.c.first_seen)
            .limit(1)
        )
        self.undone = c(
            sa.select(client_links.c.id).where(
                client_links.c.identity_id == P("identity_id"),
                client_links.c.type == P("type"),
                client_links.c.value == P("value"),
                client_links.c.undone_at.is_not(None),
            )
        )
        self.identities_of = c(
            sa.select(identities.c.id).where(identities.c.client_id == P("client_id"))
        )
        self.link = c(
            insert(client_links).values(
                identity_id=P("identity_id"),
                from_client_id=P("from_client"),
                to_client_id=P("to_client"),
                type=P("type"),
                value=P("value"),
                message_id=P("message_id"),
                at=P("now"),
            )
        )
        self.move_client = {
            table.name: c(
                sa.update(table)
                .where(table.c.client_id == P("from_client"))
                .values(client_id=P("to_client"))
            )
            for table in (identities, dialogs, messages)
        }
        self.move_identity = {
            table.name: c(
                sa.update(table)
                .where(table.c[column] == P("identity_id"))
                .values(client_id=P("to_client"))
            )
            for table, column in (
                (identities, "id"),
                (dialogs, "identity_id"),
                (messages, "identity_id"),
            )
        }
        self.record_of = c(
            sa.select(client_records.c.record_id).where(
                client_records.c.client_id == P("client_id")
            )
        )
        self.move_record = c(
            sa.update(client_records)
            .where(client_records.c.client_id == P("from_client"))
            .values(client_id=P("to_client"))
        )
        self.link_one = c(
            sa.select(
                client_links.c.identity_id,
                client_links.c.from_client_id,
                client_links.c.to_client_id,
                client_links.c.undone_at,
            ).where(client_links.c.id == P("link_id"))
        )
        self.undo = c(
            sa.update(client_links)
            .where(client_links.c.id == P("link_id"), client_links.c.undone_at.is_(None))
            .values(undone_at=P("now"))
        )
        self.link_record = c(
            insert(client_records)
            .values(client_id=P("client_id"), record_id=P("record_id"), linked_at=P("now"))
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["client_id"],
                set_={"record_id": P("record_id"), "linked_at": P("now")},
            )
        )
        contacts_of_client = client_contacts.join(
            identities, identities.c.id == client_contacts.c.identity_id
        )
        self.values_of_client = c(
            sa.select(client_contacts.c.type, client_contacts.c.value)
            .select_from(contacts_of_client)
            .where(identities.c.client_id == P("client_id"))
            .order_by(client_contacts.c.first_seen)
        )
        self.identities_of_client = c(
            sa.select(identities.c.channel_type, identities.c.external_id)
            .where(identities.c.client_id == P("client_id"))
            .order_by(identities.c.id)
        )
        self.links_of = c(
            sa.select(
                client_links.c.id,
                client_links.c.identity_id,
                client_links.c.from_client_id,
                client_links.c.to_client_id,
                client_links.c.type,
                client_links.c.value,
                client_links.c.message_id,
                client_links.c.at,
                client_links.c.undone_at,
            )
            .where(
                sa.or_(
                    client_links.c.to_client_id == P("client_id"),
                    client_links.c.from_client_id == P("client_id"),
                )
            )
            .order_by(client_links.c.id)
        )


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def track(
    tx: Tx,
    identity_id: int,
    client_id: int,
    values: dict[str, str],
    message_id: int | None,
    at: float,
    *,
    link: bool,
) -> int:
    """Keep the phone and email in ``values``; with ``link``, join the client who gave the same
    value first. Returns the identity's client id as it is now."""
    q = _q(tx)
    for kind in TRACKED:
        value = values.get(kind)
        if value is None:
            continue
        params = {"identity_id": identity_id, "type": kind, "value": value}
        tx.run(q.remember, {**params, "message_id": message_id, "now": at})
        if not link or tx.first(q.undone, params) is not None:
            continue
        other = tx.first(q.other_client, {"type": kind, "value": value, "client_id": client_id})
        if other is None:
            continue
        merge(tx, client_id, int(other["client_id"]), kind, value, message_id, at)
        client_id = int(other["client_id"])
    return client_id


def merge(
    tx: Tx,
    from_client: int,
    to_client: int,
    kind: str,
    value: str,
    message_id: int | None,
    at: float,
) -> None:
    """Move every identity of ``from_client`` (with their dialogs and messages) to ``to_client``."""
    q = _q(tx)
    for moved in tx.rows(q.identities_of, {"client_id": from_client}):
        tx.run(
            q.link,
            {
                "identity_id": moved["id"],
                "from_client": from_client,
                "to_client": to_client,
                "type": kind,
                "value": value,
                "message_id": message_id,
                "now": at,
            },
        )
    clients = {"from_client": from_client, "to_client": to_client}
    for statement in q.move_client.values():
        tx.run(statement, clients)
    if tx.first(q.record_of, {"client_id": to_client}) is None:
        tx.run(q.move_record, clients)


def unmerge(tx: Tx, link_id: int, at: float) -> Link:
    """Undo a link: the identity, its dialogs and messages go back to the client they came from."""
    q = _q(tx)
    row = tx.first(q.link_one, {"link_id": link_id})
    if row is None:
        raise LookupError(f"no client link {link_id}")
    identity_id, from_client = row["identity_id"], row["from_client_id"]
    if row["undone_at"] is not None:
        raise LookupError(f"client link {link_id} was undone already")
    tx.run(q.undo, {"link_id": link_id, "now": at})
    for statement in q.move_identity.values():
        tx.run(statement, {"identity_id": identity_id, "to_client": from_client})
    found = [link for link in links(tx, int(from_client)) if link.id == link_id]
    return found[0]


def links(tx: Tx, client_id: int) -> list[Link]:
    """Links into or out of the client, oldest first."""
    fields = list(Link.model_fields)  # the statement selects the model's fields by their names
    rows = tx.rows(_q(tx).links_of, {"client_id": client_id})
    return [Link.model_validate({name: row[name] for name in fields}) for row in rows]


def record_of(tx: Tx, client_id: int) -> str | None:
    row = tx.first(_q(tx).record_of, {"client_id": client_id})
    return str(row["record_id"]) if row is not None else None


def link_record(tx: Tx, client_id: int, record_id: str, at: float) -> None:
    tx.run(_q(tx).link_record, {"client_id": client_id, "record_id": record_id, "now": at})


def contact_values(tx: Tx, client_id: int) -> dict[str, list[str]]:
    """The phones, emails and messenger identities (``telegram:123``) of all of a client's
    identities, first given first."""
    q = _q(tx)
    found: dict[str, list[str]] = {"phone": [], "email": [], "im": []}
    for row in tx.rows(q.values_of_client, {"client_id": client_id}):
        if row["value"] not in found[row["type"]]:
            found[row["type"]].append(row["value"])
    for row in tx.rows(q.identities_of_client, {"client_id": client_id}):
        found["im"].append(f"{row['channel_type']}:{row['external_id']}")
    return found
