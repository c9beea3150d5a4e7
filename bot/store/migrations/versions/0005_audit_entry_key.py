"""Audit entries carry a key their writer chose, so a retried write cannot add one twice.

``Database.write`` tries a write again after a connection error; when the first attempt's
commit landed but its acknowledgement was lost, the retry's ``INSERT … ON CONFLICT
(entry_key) DO NOTHING`` finds that row. Existing entries keep a NULL key (NULLs never
conflict in a unique index, on either engine), so nothing is rewritten.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (not batch mode) on SQLite too: copying the table would be slow
    # on a large trail and needlessly risky for the one record of who did what.
    op.add_column("audit", sa.Column("entry_key", sa.Text(), nullable=True))
    op.create_index("audit_entry_key", "audit", ["entry_key"], unique=True)


def downgrade() -> None:
    op.drop_index("audit_entry_key", table_name="audit")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("entry_key")
