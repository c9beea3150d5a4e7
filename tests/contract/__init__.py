"""Contract tests: runnerops held against GitHub's published API descriptions and payloads."""
