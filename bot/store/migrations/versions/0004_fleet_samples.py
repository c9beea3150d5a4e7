"""The fleet over time: runners online, busy and offline per target per ten minutes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fleet_samples",
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("at", UTCDateTime(), primary_key=True),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.Column("busy", sa.Integer(), nullable=False),
        sa.Column("offline", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fleet_samples")
