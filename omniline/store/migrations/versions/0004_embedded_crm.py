"""embedded crm

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:40:55.693237
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("responsible", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("origin_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_records")),
        sa.UniqueConstraint("origin_id", name=op.f("uq_crm_records_origin_id")),
    )
    op.create_table(
        "crm_timeline",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["crm_records.id"], name=op.f("fk_crm_timeline_record_id_crm_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_timeline")),
    )
    with op.batch_alter_table("crm_timeline", schema=None) as batch_op:
        batch_op.create_index("ix_crm_timeline_record", ["record_id", "id"], unique=False)

    op.create_table(
        "crm_values",
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("added_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["crm_records.id"], name=op.f("fk_crm_values_record_id_crm_records")
        ),
        sa.PrimaryKeyConstraint("record_id", "type", "value", name=op.f("pk_crm_values")),
    )
    with op.batch_alter_table("crm_values", schema=None) as batch_op:
        batch_op.create_index("ix_crm_values_type_value", ["type", "value"], unique=False)

    op.create_table(
        "client_records",
        sa.Column("client_id", Id, nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("linked_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_records_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_records")),
    )
    op.create_table(
        "client_contacts",
        sa.Column("identity_id", Id, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("first_seen", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_client_contacts_identity_id_identities"),
        ),
        sa.PrimaryKeyConstraint("identity_id", "type", "value", name=op.f("pk_client_contacts")),
    )
    with op.batch_alter_table("client_contacts", schema=None) as batch_op:
        batch_op.create_index("ix_client_contacts_type_value", ["type", "value"], unique=False)
    op.create_table(
        "client_links",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("identity_id", Id, nullable=False),
        sa.Column("from_client_id", Id, nullable=False),
        sa.Column("to_client_id", Id, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.Column("undone_at", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_client_links_identity_id_identities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_links")),
    )
    with op.batch_alter_table("client_links", schema=None) as batch_op:
        batch_op.create_index("ix_client_links_to_client", ["to_client_id"], unique=False)


def downgrade() -> None:
    op.drop_table("client_links")
    op.drop_table("client_contacts")
    op.drop_table("client_records")
    with op.batch_alter_table("crm_values", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_values_type_value")

    op.drop_table("crm_values")
    with op.batch_alter_table("crm_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_timeline_record")

    op.drop_table("crm_timeline")
    op.drop_table("crm_records")
