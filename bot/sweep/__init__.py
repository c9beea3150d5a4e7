"""The watch's I/O: the sweep's rounds (loop.py), the GitHub view a diagnosis is made from
(fleetview.py), and ``workflow_job`` webhooks into the store (ingest.py).

Every decision is made by the pure core in bot/watch/; this package reads the store,
GitHub (through bot/github/) and posts to Slack (text rendered by bot/slack/) around it.
"""
