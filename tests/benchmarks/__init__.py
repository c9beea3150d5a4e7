"""Stand-alone load measurements, runnable with ``python -m tests.benchmarks.NAME``."""
