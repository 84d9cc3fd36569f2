"""The README's and docs' relative links point at files that exist, and their #anchors at headings there.

Docs quote results by linking the committed files that hold them; a moved file or a renamed heading would
otherwise leave a dead link that no other test sees.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(path: Path) -> set[str]:
    lines, in_code = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            lines.append(line.lstrip("#"))
    return {github_slug(line) for line in lines}


def test_slug_matches_github_on_a_worked_heading():
    # "## Which checkpoint is "best" in Table II (2026-12-06, session 17)": quotes, parentheses and the comma
    # go, spaces become hyphens, the date's hyphens stay.
    heading = ' Which checkpoint is "best" in Table II (2026-12-06, session 17)'
    assert github_slug(heading) == "which-checkpoint-is-best-in-table-ii-2026-12-06-session-17"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_relative_links_resolve(doc):
    broken = []
    for match in LINK.finditer(doc.read_text()):
        link = match.group(1)
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = link.partition("#")
        target = (doc.parent / path) if path else doc
        if not target.exists():
            broken.append(f"{link} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in headings(target):
            broken.append(f"{link} (no heading #{anchor})")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)
