"""operators, queues and routing state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:28:47.777039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("presence", sa.Text(), nullable=False),
        sa.Column("shift", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("load", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
    )
    op.create_table(
        "line_operators",
        sa.Column("line_id", sa.Text(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("line_capacity", sa.Integer(), server_default="10", nullable=False),
        sa.Column("ready", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_line_operators_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("line_id", "operator_id", name=op.f("pk_line_operators")),
    )
    with op.batch_alter_table("line_operators", schema=None) as batch_op:
        batch_op.create_index(
            "ix_line_operators_line_position", ["line_id", "position"], unique=False
        )
        batch_op.create_index(
            "ix_line_operators_line_received", ["line_id", "received", "position"], unique=False
        )
        batch_op.create_index("ix_line_operators_operator", ["operator_id"], unique=False)
        batch_op.create_index(
            "ix_line_operators_ready",
            ["line_id", "position"],
            unique=False,
            sqlite_where=sa.text("ready = 1"),
            postgresql_where=sa.text("ready"),
        )
        batch_op.create_index(
            "ix_line_operators_ready_received",
            ["line_id", "received", "position"],
            unique=False,
            sqlite_where=sa.text("ready = 1"),
            postgresql_where=sa.text("ready"),
        )

    op.create_table(
        "dialog_members",
        sa.Column(
            "dialog_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("joined_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["dialog_id"], ["dialogs.id"], name=op.f("fk_dialog_members_dialog_id_dialogs")
        ),
        sa.PrimaryKeyConstraint("dialog_id", "operator_id", name=op.f("pk_dialog_members")),
    )
    with op.batch_alter_table("dialog_members", schema=None) as batch_op:
        batch_op.create_index("ix_dialog_members_operator", ["operator_id"], unique=False)

    op.create_table(
        "dialog_offers",
        sa.Column(
            "dialog_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("offered_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["dialog_id"], ["dialogs.id"], name=op.f("fk_dialog_offers_dialog_id_dialogs")
        ),
        sa.PrimaryKeyConstraint("dialog_id", "operator_id", name=op.f("pk_dialog_offers")),
    )
    with op.batch_alter_table("dialog_offers", schema=None) as batch_op:
        batch_op.create_index("ix_dialog_offers_operator", ["operator_id"], unique=False)

    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hops", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("route", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tried", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("awaiting_rating", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index(
            "uq_dialogs_open_identity_line",
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )
        batch_op.create_index(
            "uq_dialogs_open_identity",
            ["identity_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )
        batch_op.create_index("ix_dialogs_opened_at", ["opened_at"], unique=False)
        batch_op.create_index("ix_dialogs_operator_status", ["operator_id", "status"], unique=False)
        batch_op.create_index(
            "ix_dialogs_waiting",
            ["line_id", "id"],
            unique=False,
            sqlite_where=sa.text("route IN ('waiting', 'parked')"),
            postgresql_where=sa.text("route IN ('waiting', 'parked')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_dialogs_waiting",
            sqlite_where=sa.text("route IN ('waiting', 'parked')"),
            postgresql_where=sa.text("route IN ('waiting', 'parked')"),
        )
        batch_op.drop_index("ix_dialogs_operator_status")
        batch_op.drop_index("ix_dialogs_opened_at")
        batch_op.drop_index(
            "uq_dialogs_open_identity",
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )
        batch_op.create_index(
            "uq_dialogs_open_identity_line",
            ["identity_id", "line_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        )
        batch_op.drop_column("awaiting_rating")
        batch_op.drop_column("tried")
        batch_op.drop_column("route")
        batch_op.drop_column("hops")

    with op.batch_alter_table("dialog_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_dialog_offers_operator")

    op.drop_table("dialog_offers")
    with op.batch_alter_table("dialog_members", schema=None) as batch_op:
        batch_op.drop_index("ix_dialog_members_operator")

    op.drop_table("dialog_members")
    with op.batch_alter_table("line_operators", schema=None) as batch_op:
        batch_op.drop_index("ix_line_operators_operator")
        batch_op.drop_index("ix_line_operators_line_received")
        batch_op.drop_index("ix_line_operators_line_position")

    op.drop_table("line_operators")
    op.drop_table("operators")
