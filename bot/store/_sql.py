"""Small helpers the watch's stores share: the upsert of the engine in use, UTC now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from bot.store.database import Database


def insert_for(db: Database) -> Callable[..., Any]:
    """``INSERT … ON CONFLICT`` exists on both engines, under two dialect modules."""
    return postgresql.insert if db.dialect == "postgresql" else sqlite.insert


def utc(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)
