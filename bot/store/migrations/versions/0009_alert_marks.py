"""Acknowledge, snooze and escalate: who acknowledged or snoozed an alert and until when,
when its one escalation was claimed, and whom a watch mentions after how long.

Stored (not in memory) so that every process sees the same marks, and so that an
escalation is claimed in the database before it is posted: exactly one per alert.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledged_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("snoozed_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("snoozed_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("escalated_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("mentions", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("mention_after_seconds", sa.Integer(), nullable=False, server_default="900")
        )


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("mention_after_seconds")
        batch.drop_column("mentions")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("snoozed_until")
        batch.drop_column("snoozed_by")
        batch.drop_column("acknowledged_at")
        batch.drop_column("acknowledged_by")
