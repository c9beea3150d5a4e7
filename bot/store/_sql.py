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


def storable(text: str | None) -> str | None:
    """``text`` as both engines store it: NUL (which PostgreSQL's text refuses) becomes
    U+FFFD; every other character, control, right-to-left or combining, is kept."""
    return text.replace("\x00", "\ufffd") if text is not None else None


def utc(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)
