"""desk throttle: the console's login rate limit, shared by every worker process

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_throttle",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tat", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_desk_throttle")),
    )


def downgrade() -> None:
    op.drop_table("desk_throttle")
