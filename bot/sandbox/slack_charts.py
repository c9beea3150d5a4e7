"""The Slack double's check of Slack's chart block (``data_visualization``, 2026-06).

Slack draws line, bar, area and pie charts in messages from this block and refuses a
message whose chart breaks its limits (``invalid_blocks``, with a JSON pointer per error):
a title of 1-50 characters, at most two charts in a message, 1-20 categories and 1-12
uniquely named series (names and labels of at most 20 characters), each series one finite
number per category, labelled as the categories in their order. The double refuses the
same, refuses the block where runnerops never sends it (the Home tab, whose support the
reference leaves open), and can play a workspace that does not take the block yet
(``accepted = False``).
"""

from __future__ import annotations

import math
from typing import Any

KINDS = {"line", "bar", "area", "pie"}


def _series_errors(chart: dict[str, Any], where: str) -> list[str]:
    axis = chart.get("axis_config") or {}
    categories = axis.get("categories")
    series = chart.get("series")
    if not isinstance(categories, list) or not 1 <= len(categories) <= 20:
        return [f"categories must hold 1 to 20 labels [{where}/chart/axis_config]"]
    if not isinstance(series, list) or not 1 <= len(series) <= 12:
        return [f"series must hold 1 to 12 items [{where}/chart/series]"]
    errors = []
    if any(not isinstance(c, str) or not 0 < len(c) <= 20 for c in categories):
        errors.append(f"a category is 1 to 20 characters [{where}/chart/axis_config]")
    names = [s.get("name") if isinstance(s, dict) else None for s in series]
    if any(not isinstance(n, str) or not 0 < len(n) <= 20 for n in names):
        errors.append(f"a series name is 1 to 20 characters [{where}/chart/series]")
    if len(set(map(str, names))) != len(names):
        errors.append(f"series names must be unique [{where}/chart/series]")
    for i, s in enumerate(series):
        data = s.get("data") if isinstance(s, dict) else None
        labels = [d.get("label") for d in data] if isinstance(data, list) else None
        values = [d.get("value") for d in data] if isinstance(data, list) else []
        if labels != categories:
            errors.append(f"data must follow the categories [{where}/chart/series/{i}]")
        elif not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            errors.append(f"a value must be a finite number [{where}/chart/series/{i}]")
    return errors


def chart_errors(blocks: Any, *, accepted: bool, surface: str) -> list[str]:
    """Slack's complaints about the chart blocks in ``blocks`` (none: it takes them)."""
    errors: list[str] = []
    charts = 0
    for index, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict) or block.get("type") != "data_visualization":
            continue
        where = f"json-pointer:/blocks/{index}"
        charts += 1
        if not accepted or surface != "message":
            errors.append(f"unsupported type: data_visualization [{where}]")
            continue
        title, chart = block.get("title"), block.get("chart")
        if not isinstance(title, str) or not 0 < len(title) <= 50:
            errors.append(f"title must be 1 to 50 characters [{where}/title]")
        if not isinstance(chart, dict) or chart.get("type") not in KINDS:
            errors.append(f"chart type must be one of {sorted(KINDS)} [{where}/chart]")
        elif chart["type"] != "pie":
            errors.extend(_series_errors(chart, where))
    if charts > 2:
        errors.append("a message holds at most 2 data_visualization blocks")
    return errors
