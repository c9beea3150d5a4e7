"""Decisions behind fleet actions (pure: no I/O), kept apart from the handlers that act."""
