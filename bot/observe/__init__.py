"""What runnerops tells the tools platform teams already run: Prometheus metrics and
structured logs."""
