"""Runner versions' end-of-life dates, cached: ``versions`` asks GitHub for each version's
dates at most once a day, and every process reads the same answer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runner_versions",
        sa.Column("version", sa.Text(), primary_key=True),
        sa.Column("registration_deprecates_at", UTCDateTime(), nullable=True),
        sa.Column("runtime_deprecates_at", UTCDateTime(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runner_versions")
