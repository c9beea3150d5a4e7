"""Runner labels as GitHub matches them: case-insensitively, as a set.

A job's ``runs-on`` labels and a runner's labels are compared, grouped and stored through
:func:`label_set_key`, so ``[Linux, self-hosted]`` and ``[self-hosted, linux]`` are one
queue and one alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LabelSetKey = tuple[str, ...]
"""Normalised labels, sorted and without duplicates: hashable, storable, comparable."""

SELF_HOSTED = "self-hosted"

# Only the families GitHub documents. Larger runners are named by each organization and
# cannot be recognised, so they count as self-hosted (see is_github_hosted).
_HOSTED = re.compile(
    r"ubuntu-latest|ubuntu-slim|ubuntu-[0-9]+\.[0-9]+(-arm)?|windows-[a-z0-9.-]+"
    r"|macos-[a-z0-9.-]+",
    re.ASCII,
)


def normalise_label(name: str) -> str:
    """One label as GitHub compares it: surrounding space dropped, case folded."""
    return name.strip().lower()


def label_set_key(labels: Iterable[str]) -> LabelSetKey:
    """The canonical form of a set of labels: normalised, de-duplicated, sorted.

    Blank and non-text items are dropped; a lone string counts as one label (``runs-on:
    linux`` arrives as a list, but a stored value may not)."""
    if isinstance(labels, str):
        labels = [labels]
    names = (normalise_label(x) for x in labels if isinstance(x, str))
    return tuple(sorted({name for name in names if name}))


def is_github_hosted(labels: Iterable[str]) -> bool:
    """Whether a job with these ``runs-on`` labels goes to a GitHub-hosted runner.

    True only when there is at least one label, none is ``self-hosted`` and every one is
    of a documented hosted family (``ubuntu-latest``, ``ubuntu-slim`` (the single-CPU
    runner), ``ubuntu-24.04``, ``ubuntu-24.04-arm``, ``windows-*``, ``macos-*``). Anything
    else, including an organization's larger-runner names, is treated as self-hosted: the
    watch would rather look at a job it need not than miss one.
    """
    key = label_set_key(labels)
    if not key or SELF_HOSTED in key:
        return False
    return all(_HOSTED.fullmatch(label) for label in key)


def carries_all(runner_labels: Iterable[str], job_labels: Iterable[str]) -> bool:
    """Whether a runner with ``runner_labels`` may take a job asking for ``job_labels``."""
    return set(label_set_key(job_labels)) <= set(label_set_key(runner_labels))


def missing_labels(runner_labels: Iterable[str], job_labels: Iterable[str]) -> LabelSetKey:
    """The job's labels the runner lacks, normalised and sorted."""
    have = set(label_set_key(runner_labels))
    return tuple(label for label in label_set_key(job_labels) if label not in have)
