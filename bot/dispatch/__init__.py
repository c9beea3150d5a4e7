"""Verbs and buttons declared once, and the one dispatcher that authorizes them all."""

from bot.caller import Caller
from bot.dispatch.router import (
    Args,
    Button,
    Click,
    ClickRefused,
    Invocation,
    NoTarget,
    Router,
    TargetArgs,
    Verb,
    Words,
    parse_target_only,
)
from bot.dispatch.run import run_click, run_command

__all__ = [
    "Args",
    "Button",
    "Caller",
    "Click",
    "ClickRefused",
    "Invocation",
    "NoTarget",
    "Router",
    "TargetArgs",
    "Verb",
    "Words",
    "parse_target_only",
    "run_click",
    "run_command",
]
