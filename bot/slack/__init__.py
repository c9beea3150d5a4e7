"""The Slack side: slack-bolt wiring (bolt) and Block Kit rendering (render)."""
