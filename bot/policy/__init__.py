"""Where policy is decided: the grant rules (rules) and Slack group lookups (access)."""
