"""The watch's pure core: why a self-hosted job waits, and which Slack alerts that makes.

Nothing here does I/O, reads the clock or awaits: callers pass GitHub's data (through the
``from_github`` constructors of :mod:`bot.watch.models`) and ``now``, and get plain data
back. The store, GitHub calls and Slack posts live around it.
"""
