"""The Slack adapter: verification, acknowledgement, response_url and Socket Mode; all
the work is handed to bot.dispatch."""
