"""The stats benchmark at a tiny size, so that it cannot rot unnoticed.

``python -m tests.benchmarks.stats`` prints times; this runs it as it is run (its own
process, both engines, the service in another) over 300 jobs and checks only that its
output is whole and what it timed was right: every command acknowledged 200, every
``stats`` answered with the same reply, the database's figures equal to the old path's.
Nothing here asserts on time.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bot.sandbox.processes import ROOT
from tests.benchmarks.stats import ROWS
from tests.postgres import find_bindir


def test_the_benchmark_prints_every_figure_for_both_engines() -> None:
    engines = "sqlite,postgresql" if find_bindir() is not None else "sqlite"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.stats",
            "--jobs",
            "300",
            "--runs",
            "2",
            "--acks",
            "5",
            "--engines",
            engines,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert (
        lines[0]
        == f"$ python -m tests.benchmarks.stats --jobs 300 --runs 2 --acks 5 --engines {engines}"
    )
    names = ["SQLite", "PostgreSQL"][: len(engines.split(","))]
    header = lines.index("| | " + " | ".join(names) + " |")
    rows = lines[header + 2 : header + 2 + len(ROWS)]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == ROWS
    for row in rows:
        cells = row.strip("| ").split(" | ")[1:]
        assert len(cells) == len(names) and all(cells), row
    assert rows[0].count("300 jobs") == len(names)
    assert rows[-1].count("same figures: yes") == len(names)
    assert rows[4].count("sent while stats ran") == len(names)
    assert rows[5].count(" ms without (") == len(names) and "jobs replayed" in rows[5]
    assert rows[6].count(" ms without (") == len(names) and "without: min" in rows[6]
    assert rows[7].count(" ms without the advice, ") == len(names)
    assert not [line for line in lines if line.startswith(tuple(f"{n}: " for n in names))]
    assert lines[-1].startswith("(whole run ")
