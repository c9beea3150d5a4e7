"""Alembic environment: runs on the connection :func:`bot.store.migrate.upgrade` hands it.

``render_as_batch`` lets later migrations alter tables on SQLite too (it copies the table).
"""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
