"""See it coming: a watch's ``--version-warn``, its daily ``--digest HH:MM`` in ``--tz``,
and the day whose digest was last claimed.

``digest_day`` is the claim that makes the digest go out exactly once across processes:
a process posts a day's digest only after moving ``digest_day`` forward to that day in
one conditional UPDATE, which only one process can win.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.add_column(
            sa.Column(
                "version_warn_seconds", sa.Integer(), nullable=False, server_default="1209600"
            )
        )
        batch.add_column(sa.Column("digest_at", sa.String(5), nullable=True))
        batch.add_column(sa.Column("digest_tz", sa.Text(), nullable=False, server_default="UTC"))
        batch.add_column(sa.Column("digest_day", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("digest_day")
        batch.drop_column("digest_tz")
        batch.drop_column("digest_at")
        batch.drop_column("version_warn_seconds")
