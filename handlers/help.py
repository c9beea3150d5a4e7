"""``help``: the command reference, in Slack, drawn from every verb's declaration."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import unknown_word
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.slack.blocks import Reply
from bot.slack.views import help as help_view

router = Router()


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpArgs(Args):
    name: str | None = None  # ``help VERB``: the verb asked about


def parse_help(w: Words) -> HelpArgs:
    if not w.positionals:
        return HelpArgs()
    topic = w.resolve(w.positionals[0])
    if topic is None:
        raise unknown_word("no command", w.positionals[0], w.near(w.positionals[0]))
    return HelpArgs(name=topic)


async def show_help(inv: Invocation[HelpArgs]) -> Reply:
    return help_view.help_reply(inv.router.documented(), inv.caller.command_name, inv.command.name)


router.add(Verb("help", "help", "", "read", parse_help, show_help, local=True))
