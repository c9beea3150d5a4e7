"""The schema, defined once for both engines (SQLAlchemy Core).

Migrations under ``migrations/versions`` create exactly these tables; a test compares the
migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()

# SQLite's rowid alias must be INTEGER exactly; PostgreSQL gets a 64-bit identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC times on both engines.

    PostgreSQL stores ``timestamptz``. SQLite stores fixed-width ISO-8601 text in UTC, as
    the audit file of earlier versions already did: such text sorts in time order and the
    old rows read back unchanged, with no data migration.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("times are stored timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("user_id", sa.Text(), nullable=False),
    sa.Column("user_name", sa.Text(), nullable=False),
    sa.Column("action", sa.Text(), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("outcome", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    sa.Column("channel_id", sa.Text(), nullable=False, server_default=""),
    sa.Index("audit_at_id", "at", "id"),
    sqlite_autoincrement=True,  # ids of pruned entries are never handed out again
)
# Targets match ignoring case ("Acme/API" is "acme/api").
sa.Index("audit_target_lower", sa.func.lower(audit.c.target), audit.c.at)

# "Done once" records: Slack command retries, Delete clicks, webhook deliveries. The first
# process to insert a key acts; the others read the outcome it leaves.
once = sa.Table(
    "once",
    metadata,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # running | done
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.JSON(), nullable=True),
    sa.Index("once_expires", "expires_at"),
)
