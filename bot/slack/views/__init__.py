"""Slack text for each capability, one module apiece, over :mod:`bot.slack.blocks`."""
