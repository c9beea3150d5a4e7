"""The audit trail and the "done once" records.

An audit file of an earlier version (SQLite, created without Alembic, ``user_version`` 1)
already has the ``audit`` table with the same columns and ISO-8601 UTC times: it is kept
as it is, every entry with it, and only its indexes are brought up to date.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import BigId, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("audit"):
        op.create_table(
            "audit",
            sa.Column("id", BigId, primary_key=True, autoincrement=True),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("user_id", sa.Text(), nullable=False),
            sa.Column("user_name", sa.Text(), nullable=False),
            sa.Column("action", sa.Text(), nullable=False),
            sa.Column("target", sa.Text(), nullable=False),
            sa.Column("outcome", sa.Text(), nullable=False),
            sa.Column("detail", sa.Text(), nullable=False, server_default=""),
            sa.Column("channel_id", sa.Text(), nullable=False, server_default=""),
            sqlite_autoincrement=True,
        )
    existing = {index["name"] for index in inspector.get_indexes("audit")}
    for legacy in ("audit_at", "audit_target"):  # the earlier version's own indexes
        if legacy in existing:
            op.drop_index(legacy, table_name="audit")
    op.create_index("audit_at_id", "audit", ["at", "id"])
    op.create_index("audit_target_lower", "audit", [sa.text("lower(target)"), "at"])
    op.create_table(
        "once",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
    )
    op.create_index("once_expires", "once", ["expires_at"])


def downgrade() -> None:
    op.drop_table("once")
    op.drop_index("audit_target_lower", table_name="audit")
    op.drop_index("audit_at_id", table_name="audit")
    op.drop_table("audit")
