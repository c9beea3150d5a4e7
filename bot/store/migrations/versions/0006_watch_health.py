"""The watch is watched: when each job was last confirmed, and each watch's health.

``jobs.confirmed_at``: the sweep asks GitHub about a stuck job at most once per its
watch's ``--after`` (not every round), and once more after GitHub's 24-hour limit.

``watch_health``: per watch (channel and target), since when it cannot be swept and why,
the Slack message that says so (updated in place, then "watching again"), and when it was
last swept whole. Shared by every process, like the watches themselves.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("confirmed_at", UTCDateTime(), nullable=True))
    op.create_index("jobs_rank_created", "jobs", ["status_rank", "created_at"])
    op.create_table(
        "watch_health",
        sa.Column("channel", sa.Text(), primary_key=True),
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("notice_ts", sa.Text(), nullable=True),
        sa.Column("last_success", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("watch_health")
    op.drop_index("jobs_rank_created", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("confirmed_at")
