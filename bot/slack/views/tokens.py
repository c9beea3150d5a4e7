"""``token`` and ``remove-token``: a runner token and the line to paste, always private."""

from __future__ import annotations

import time
from typing import Literal

from bot.github.models import RunnerToken
from bot.slack.blocks import Reply, context, escape, section, slack_time
from bot.targets import Target


def config_url(github_url: str, target: Target) -> str:
    return f"{github_url.rstrip('/')}/{target.web_path}"


# What a leaked token allows, said under it: each kind allows something else.
TOKEN_RISK = {
    "registration": "anyone holding it can attach a machine that receives this target's jobs.",
    "remove": "anyone holding it can remove a runner from this target (until it expires).",
}


def token_reply(
    target: Target,
    token: RunnerToken,
    *,
    kind: Literal["registration", "remove"],
    github_url: str,
    now: float | None = None,
) -> Reply:
    """Always ephemeral: a runner token is an admin secret."""
    now = time.time() if now is None else now
    if kind == "registration":
        line = f"./config.sh --url {config_url(github_url, target)} --token {token.token}"
        what = "Registration token"
        how = "On the new machine, in the runner directory, run:"
    else:
        line = f"./config.sh remove --token {token.token}"
        what = "Remove token"
        how = "On the runner's machine, in the runner directory, run:"
    if token.expires_at is not None:
        minutes = max(0, int((token.expires_at.timestamp() - now) // 60))
        expiry = f"expires at {slack_time(token.expires_at)} (in {minutes} min)"
    else:  # GitHub's time was unreadable; its tokens last an hour
        expiry = "expires within the hour (GitHub's expiry time could not be read)"
    return Reply(
        text=f"{what} for {target}, {expiry}",
        blocks=[
            section(f"*{what}* for *{escape(str(target))}*, {expiry}.\n{how}"),
            section(f"```{line}```"),
            context(f"Only you can see this. Treat the token as a password: {TOKEN_RISK[kind]}"),
        ],
        response_type="ephemeral",
    )


def token_unknown(target: Target, kind: Literal["registration", "remove"]) -> Reply:
    """GitHub failed without saying whether it issued the token (a 5xx or a timeout)."""
    text = (
        f":grey_question: GitHub did not confirm the {kind} token for "
        f"*{escape(str(target))}*: it may have issued one before failing. None was shown to "
        "anyone, and an unused token expires within the hour. Ask again for a new one."
    )
    return Reply(text=text, blocks=[section(text)], response_type="ephemeral")
