"""The watch: workflow jobs, watches, alerts, runners seen, leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import BigId, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("run_attempt", sa.Integer(), nullable=True),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("owner_key", sa.Text(), nullable=False),
        sa.Column("repo_key", sa.Text(), nullable=False),
        sa.Column("repository_public", sa.Boolean(), nullable=True),
        sa.Column("workflow_name", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("hosted", sa.Boolean(), nullable=False),
        sa.Column("html_url", sa.Text(), nullable=True),
        sa.Column("head_sha", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("runner_id", sa.BigInteger(), nullable=True),
        sa.Column("runner_name", sa.Text(), nullable=True),
        sa.Column("runner_group_id", sa.BigInteger(), nullable=True),
        sa.Column("runner_group_name", sa.Text(), nullable=True),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("jobs_owner_status", "jobs", ["owner_key", "status_rank", "created_at"])
    op.create_index("jobs_repo_created", "jobs", ["repo_key", "created_at"])
    op.create_table(
        "watches",
        sa.Column("channel", sa.Text(), primary_key=True),
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("after_seconds", sa.Integer(), nullable=False),
        sa.Column("offline_after_seconds", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_by_name", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("message_ts", sa.Text(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("posting_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("channel", "key", name="alerts_channel_key"),
    )
    op.create_table(
        "runners_seen",
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("runner_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.Column("last_seen_online", UTCDateTime(), nullable=True),
        sa.Column("first_seen_offline", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("runners_seen")
    op.drop_table("alerts")
    op.drop_table("watches")
    op.drop_index("jobs_repo_created", table_name="jobs")
    op.drop_index("jobs_owner_status", table_name="jobs")
    op.drop_table("jobs")
