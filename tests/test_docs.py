"""The README and docs/ hold together: every relative link reaches a file of the
repository and every #anchor a heading of its target (as GitHub makes anchors), and the
README stays short enough to read (the rest lives in docs/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
README_LINES = 300


def anchors(page: Path) -> set[str]:
    """GitHub's anchors: a heading lower-cased, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        found.add(slug)
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    checked = 0
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto: …: not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: {target} points at no file"
        if anchor:
            assert anchor in anchors(file), f"{page.name}: {target}: no such heading"
        checked += 1
    if page.name == "README.md":
        assert checked >= 10  # the README is the index of docs/: its links were read


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_anchors_follow_githubs_rule(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Upgrading and rolling back\n## Permissions asked for, and why\n")
    assert anchors(page) == {"upgrading-and-rolling-back", "permissions-asked-for-and-why"}
