"""line settings changed at run time, shared by every worker and kept across restarts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:58:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "line_settings",
        sa.Column("line_id", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_line_settings")),
    )


def downgrade() -> None:
    op.drop_table("line_settings")
