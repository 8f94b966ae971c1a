"""desk connections: operators with the console open, per worker process

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:18:00.746927
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_connections",
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("sockets", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", "process", name=op.f("pk_desk_connections")),
    )


def downgrade() -> None:
    op.drop_table("desk_connections")
