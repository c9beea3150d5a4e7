"""Queue times and runner usage rolled up per hour as jobs start and finish, so
``stats`` reads hours, not jobs.

``job_waits``: per target (organization, and repository), hour of ``created_at``, label
set (a bounded key, the readable labels beside it) and wait in microseconds, how many
jobs; ``jobs.waits_rolled`` says a job is counted there (set in the transaction that
first stores it started), and ``jobs_waits_unrolled`` finds the few that are not
(queued, cancelled while queued). ``runner_hours``: per target, runner and hour, the runs
started and the time busy, counted when a job is first stored finished
(``jobs.usage_rolled``). The history already stored is rolled up here
(bot/store/rollups.py backfill).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.rollups import backfill
from bot.store.schema import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("waits_rolled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "jobs_waits_unrolled",
        "jobs",
        ["owner_key", "created_at"],
        postgresql_where=sa.text("NOT waits_rolled"),
        sqlite_where=sa.text("NOT waits_rolled"),
    )
    op.add_column(
        "jobs",
        sa.Column("usage_rolled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "jobs_usage_unrolled",
        "jobs",
        ["owner_key", "started_at"],
        postgresql_where=sa.text("NOT usage_rolled AND started_at IS NOT NULL"),
        sqlite_where=sa.text("NOT usage_rolled AND started_at IS NOT NULL"),
    )
    op.create_index(
        "jobs_usage_started",
        "jobs",
        ["owner_key", "started_at"],
        postgresql_where=sa.text("usage_rolled"),
        sqlite_where=sa.text("usage_rolled"),
    )
    op.create_table(
        "runner_hours",
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("runner_key", sa.Text(), primary_key=True),
        sa.Column("span", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("runner_name", sa.Text(), nullable=False),
        sa.Column("starts", sa.BigInteger(), nullable=False),
        sa.Column("busy_us", sa.BigInteger(), nullable=False),
        sa.Column("first_start", UTCDateTime(), nullable=False),
    )
    op.create_index("runner_hours_hour", "runner_hours", ["target_key", "span", "hour"])
    op.create_table(
        "job_waits",
        sa.Column("target_key", sa.Text(), primary_key=True),
        sa.Column("span", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("labels_key", sa.Text(), primary_key=True),
        sa.Column("wait_us", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("job_waits")
    op.drop_table("runner_hours")
    for index in ("jobs_waits_unrolled", "jobs_usage_unrolled", "jobs_usage_started"):
        op.drop_index(index, table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("waits_rolled")
        batch.drop_column("usage_rolled")
