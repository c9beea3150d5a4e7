"""prune's dry runs, for their Delete button.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prune_plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("runners", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("prune_plans_expires", "prune_plans", ["expires_at"])


def downgrade() -> None:
    op.drop_table("prune_plans")
