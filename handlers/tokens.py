"""``token`` and ``remove-token``: one-hour runner tokens, only ever shown ephemerally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from bot import errors
from bot.commands import no_more, take_target
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.slack.blocks import Reply
from bot.slack.views import tokens as tokens_view
from bot.targets import Target

router = Router()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenArgs(Args):
    target: Target
    public: bool = False


def parse_token(w: Words) -> TokenArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    return TokenArgs(target=target, public="--public" in w.flags)


async def runner_token(inv: Invocation[TokenArgs]) -> Reply:
    target, verb, services = inv.command.target, inv.command.verb, inv.services
    kind: Literal["registration", "remove"] = "registration" if verb == "token" else "remove"
    async with await services.audit_first(inv.caller, verb, target) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            if verb == "token":
                token = await services.runners.registration_token(target)
            else:
                token = await services.runners.remove_token(target)
        except errors.OutcomeUnknown as exc:  # GitHub may have issued one nobody was shown
            await audited.settle("unknown", exc.detail)
            return tokens_view.token_unknown(target, kind)
        expiry = (
            f"{token.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if token.expires_at
            else "an unreadable time"
        )
        await audited.settle("issued", f"expires {expiry}")
    return tokens_view.token_reply(
        target,
        token,
        kind=kind,
        github_url=services.settings.github_url,
        now=services.clock(),
    )


router.add(
    Verb(
        "token",
        "token TARGET",
        "a one-hour registration token and the `./config.sh` line to paste",
        "token",
        parse_token,
        runner_token,
        aliases=("registration-token",),
        flags={"--public": False},
    )
)
router.add(
    Verb(
        "remove-token",
        "remove-token TARGET",
        "a one-hour remove token and the `./config.sh remove` line",
        "token",
        parse_token,
        runner_token,
        flags={"--public": False},
    )
)
