"""The database schema, as SQLAlchemy Core tables. Alembic migrations are written from it.

Times are stored as float seconds since the epoch (UTC) and structured content as JSON text, so that
SQLite and PostgreSQL take the very same statements and the hot path needs no type adapters.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids."""

Time = sa.Float(precision=53)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("display_name", sa.Text),
    sa.Column("created_at", Time, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), nullable=False, index=True),
    sa.Column("channel_type", sa.Text, nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("channel_type", "account", "external_id"),
)

OPEN = sa.text("status <> 'closed'")
WAITING = sa.text("route IN ('waiting', 'parked')")

dialogs = sa.Table(
    "dialogs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("line_id", sa.Text, nullable=False),
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), nullable=False, index=True),
    sa.Column("identity_id", Id, sa.ForeignKey("identities.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("operator_id", sa.Text),
    sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("opened_at", Time, nullable=False),
    sa.Column("closed_at", Time),
    sa.Column("rating", sa.Integer),
    sa.Column("choices", sa.Text),
    sa.Column("hops", sa.Integer, nullable=False, server_default="0"),
    sa.Column("route", sa.Text),
    sa.Column("tried", sa.Text),
    sa.Column("awaiting_rating", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_dialogs_identity_line", "identity_id", "line_id"),
    sa.Index("ix_dialogs_line_status", "line_id", "status"),
    sa.Index("ix_dialogs_operator_status", "operator_id", "status"),
    sa.Index("ix_dialogs_opened_at", "opened_at"),
    # Dialogs the distributor picks up as soon as an operator frees up or becomes available.
    sa.Index(
        "ix_dialogs_waiting",
        "line_id",
        "id",
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    ),
    # At most one dialog that is not closed per identity, even across worker processes (a
    # channel belongs to one line; a dialog transferred to another line stays the open one).
    sa.Index(
        "uq_dialogs_open_identity",
        "identity_id",
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    ),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("dialog_id", Id, sa.ForeignKey("dialogs.id"), nullable=False),
    sa.Column("client_id", Id, nullable=False),
    sa.Column("identity_id", Id, nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("visibility", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("text", sa.Text),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_messages_dialog", "dialog_id", "id"),
    sa.Index("ix_messages_client", "client_id", "id"),
    sa.Index("ix_messages_identity", "identity_id", "id"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("channel_type", sa.Text, nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("line_id", sa.Text, nullable=False),
    sa.Column("dialog_id", Id),
    sa.Column("message_id", Id),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("processed_at", Time),
    sa.UniqueConstraint("channel_type", "account", "event_id"),
    # Only the events still to process: the index stays small however long the inbox grows.
    sa.Index(
        "ix_inbox_pending",
        "id",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("delivery_key", sa.Text, nullable=False, unique=True),
    sa.Column("dialog_id", Id, nullable=False),
    sa.Column("message_id", Id, nullable=False),
    sa.Column("identity_id", Id, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Time, nullable=False),
    sa.Column("lease_until", Time),
    sa.Column("platform_message_id", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("sent_at", Time),
    # Only rows still to send: sent and failed ones leave the index.
    sa.Index(
        "ix_outbox_unsent",
        "id",
        sqlite_where=sa.text("status IN ('pending', 'sending')"),
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    ),
)

dialog_events = sa.Table(
    "dialog_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("dialog_id", Id, sa.ForeignKey("dialogs.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_dialog_events_dialog", "dialog_id", "id"),
    sa.Index("ix_dialog_events_at", "at"),
)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("dialog_id", Id),
    sa.Column("due_at", Time, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lease_until", Time),
    sa.Column("fired_at", Time),
    sa.UniqueConstraint("kind", "key"),
    sa.Index("ix_timers_due", "status", "due_at"),
)


operators = sa.Table(
    "operators",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("presence", sa.Text, nullable=False),
    sa.Column("shift", sa.Text, nullable=False),
    sa.Column("capacity", sa.Integer),
    # Dialogs offered to this operator alone or held by them: kept in step with ``dialogs`` in the
    # same transactions, and raised only by a statement that checks it against the capacity.
    sa.Column("load", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", Time, nullable=False),
)

line_operators = sa.Table(
    "line_operators",
    metadata,
    sa.Column("line_id", sa.Text, primary_key=True),
    sa.Column("operator_id", sa.Text, sa.ForeignKey("operators.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    # Dialogs offered to the operator on this line: the round robin a distribution strategy reads
    # the queue by (``Order.RECEIVED``), in the database so that it survives restarts and is
    # shared by every worker process.
    sa.Column("received", sa.Integer, nullable=False, server_default="0"),
    # The line's default capacity, for operators without their own.
    sa.Column("line_capacity", sa.Integer, nullable=False, server_default="10"),
    # Online, working and with room on this line: kept in step with ``operators`` by every
    # statement that changes an operator, so that a routing decision reads the first ready
    # operators from an index instead of passing over the busy ones.
    sa.Column("ready", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_line_operators_line_position", "line_id", "position"),
    sa.Index("ix_line_operators_line_received", "line_id", "received", "position"),
    sa.Index("ix_line_operators_operator", "operator_id"),
    sa.Index(
        "ix_line_operators_ready",
        "line_id",
        "position",
        sqlite_where=sa.text("ready = 1"),
        postgresql_where=sa.text("ready"),
    ),
    sa.Index(
        "ix_line_operators_ready_received",
        "line_id",
        "received",
        "position",
        sqlite_where=sa.text("ready = 1"),
        postgresql_where=sa.text("ready"),
    ),
)

dialog_offers = sa.Table(
    "dialog_offers",
    metadata,
    sa.Column("dialog_id", Id, sa.ForeignKey("dialogs.id"), primary_key=True),
    sa.Column("operator_id", sa.Text, primary_key=True),
    sa.Column("offered_at", Time, nullable=False),
    sa.Index("ix_dialog_offers_operator", "operator_id"),
)
"""Who sees a dialog offered to several operators at once (a strategy's ``Reach.EVERYONE``)."""

dialog_members = sa.Table(
    "dialog_members",
    metadata,
    sa.Column("dialog_id", Id, sa.ForeignKey("dialogs.id"), primary_key=True),
    sa.Column("operator_id", sa.Text, primary_key=True),
    sa.Column("joined_at", Time, nullable=False),
    sa.Index("ix_dialog_members_operator", "operator_id"),
)
"""Operators invited into a dialog beside the one who holds it."""


plugin_state = sa.Table(
    "plugin_state",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)
"""Small durable values plugins keep between runs (a polling offset, a desk's feed cursor, which
chat topic shows which dialog), named by the plugin (``owner``) and a key."""


# --- the embedded CRM ------------------------------------------------------------------------------

crm_records = sa.Table(
    "crm_records",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("responsible", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("source_description", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("origin_id", sa.Text, unique=True),
    sa.Column("created_at", Time, nullable=False),
)

crm_values = sa.Table(
    "crm_values",
    metadata,
    sa.Column("record_id", Id, sa.ForeignKey("crm_records.id"), primary_key=True),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("added_at", Time, nullable=False),
    sa.Index("ix_crm_values_type_value", "type", "value"),
)
"""A record's phones (E.164), emails and messenger identities (``telegram:123``), many of each."""

crm_timeline = sa.Table(
    "crm_timeline",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("record_id", Id, sa.ForeignKey("crm_records.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Index("ix_crm_timeline_record", "record_id", "id"),
)

client_records = sa.Table(
    "client_records",
    metadata,
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), primary_key=True),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("linked_at", Time, nullable=False),
)
"""The CRM record (contact or lead) that stands for a client."""

# --- the chat tracker: one client across channels ---------------------------------------------------

client_contacts = sa.Table(
    "client_contacts",
    metadata,
    sa.Column("identity_id", Id, sa.ForeignKey("identities.id"), primary_key=True),
    sa.Column("type", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("message_id", Id),
    sa.Column("first_seen", Time, nullable=False),
    sa.Index("ix_client_contacts_type_value", "type", "value"),
)
"""Every phone (E.164) and email an identity gave, and in which message: kept even when a later
value differs, and never removed, so the first phone a client gave keeps linking them."""

client_links = sa.Table(
    "client_links",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("identity_id", Id, sa.ForeignKey("identities.id"), nullable=False),
    sa.Column("from_client_id", Id, nullable=False),
    sa.Column("to_client_id", Id, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("message_id", Id),
    sa.Column("at", Time, nullable=False),
    sa.Column("undone_at", Time),
    sa.Index("ix_client_links_to_client", "to_client_id"),
)
"""Why an identity was moved to another client (which value, from which message), and whether an
operator undid it."""

# --- the desk: accounts, sessions, API tokens, uploaded files ---------------------------------------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("operator_id", sa.Text),
    sa.Column("lines", sa.Text),
    sa.Column("password_hash", sa.Text),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)
"""Who may use the console and the API: a login (``id``), a role (operator, supervisor, admin),
the operator they act as, the lines they see (JSON; none: by role), and a memory-hard password
hash (argon2id; none: API tokens only)."""

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)
"""Console logins. Only a hash of the cookie's value is kept, so a copy of the database opens no
session."""

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("last_used_at", Time),
    sa.Column("revoked_at", Time),
)
"""API tokens (``Authorization: Bearer``), kept as hashes; revoked ones stay for the record."""

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("mime_type", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)
"""Files operators attach to replies, served at an unguessable address for the platforms and the
web chat to fetch (in the database, so every worker process serves them)."""

desk_connections = sa.Table(
    "desk_connections",
    metadata,
    sa.Column("operator_id", sa.Text, primary_key=True),
    sa.Column("process", sa.Text, primary_key=True),
    sa.Column("sockets", sa.Integer, nullable=False),
    sa.Column("seen_at", Time, nullable=False),
)
"""Operators with the console open: live pushes per worker process, refreshed while open. An
operator with none left anywhere (or only stale ones, from a process that died) goes offline."""


line_settings = sa.Table(
    "line_settings",
    metadata,
    sa.Column("line_id", sa.Text, primary_key=True),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_by", sa.Text),
    sa.Column("updated_at", Time, nullable=False),
)
"""A line's settings as changed at run time (the console, the API): the changed keys as JSON, laid
over the config file's, kept across restarts and seen by every worker process (``version``)."""


desk_throttle = sa.Table(
    "desk_throttle",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("tat", Time, nullable=False),
)
"""The console's login rate limit, shared by every worker process: per login or address, the
theoretical arrival time of the next allowed try (GCRA). Rows in the past allow a full burst and
are deleted."""


# --- leases -----------------------------------------------------------------------------------------

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)
"""Work that only one worker process may do at a time (a channel's ``getUpdates`` loop, a desk):
per name, the process that holds it and until when. A process that stops deletes its rows; a
dead one's row runs out and another process takes it."""
