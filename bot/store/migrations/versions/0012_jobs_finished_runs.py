"""The capacity replay's read (bot/store/job_stats.py ``recent_rows``): an organization's
finished self-hosted jobs, newest first. On PostgreSQL it is answered from this index
alone (an index-only scan of at most 5,000 entries) rather than a heap fetch per row
through ``jobs_owner_status``; the index holds only finished self-hosted jobs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As bot/store/schema.py has them now (written out: a migration does not move with it).
WHERE = "status_rank = 2 AND NOT hosted AND started_at IS NOT NULL AND completed_at IS NOT NULL"
KEY = ["owner_key", "status_rank", "created_at", "id"]
READ = ["repo_key", "started_at", "completed_at", "runner_name", "labels"]


def upgrade() -> None:
    op.create_index(
        "jobs_finished_runs",
        "jobs",
        KEY,
        postgresql_include=READ,
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("jobs_finished_runs", table_name="jobs")
