"""Everything that renders Slack text: Block Kit replies, views, the audit channel, charts."""
