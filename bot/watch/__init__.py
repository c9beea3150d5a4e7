"""The watch's pure core: why a self-hosted job waits, which Slack alerts that makes, and
how much of the rate limit its polling may use.

Nothing here does I/O or awaits, and nothing imports the store, GitHub, Slack or the
services (tests/test_layers.py checks it): callers pass GitHub's data (through the
``from_github`` constructors of :mod:`bot.watch.models`) and ``now``, and get plain data
back. The one clock read is :class:`bot.watch.budget.PollBudget`'s, through the clock it
is handed; its one side effect is a log line when it paces an account. The I/O around it
(the sweep, its GitHub view, webhook ingestion) is in bot/sweep/.
"""
