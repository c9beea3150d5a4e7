"""runnerops: GitHub Actions self-hosted runners, operated from Slack."""
