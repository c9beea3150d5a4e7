"""From alert to fix: who fixed an alert's cause from its button, when, and what was done
("added gpu to gpu-box-3").

Columns of their own, like the marks of 0009, so that the sweep's saves of an alert's
state never overwrite them and every process says the fix on the alert.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("fixed_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("fixed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("fix_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("fix_note")
        batch.drop_column("fixed_at")
        batch.drop_column("fixed_by")
