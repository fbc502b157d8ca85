"""The docs a newcomer reads: a short README that leads to every page of docs/, and
links that lead somewhere (the file exists, and so does the heading a link names)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def links(page: Path) -> list[str]:
    """Markdown link targets of a page, outside code blocks and inline code."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (outside code blocks)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_docs_page_is_linked_from_the_readme_or_the_docs_index():
    index = ROOT / "docs" / "README.md"
    assert index.exists()
    linked = {(page.parent / target.split("#")[0]).resolve()
              for page in (ROOT / "README.md", index) for target in links(page)
              if not re.match(r"[a-z]+:", target) and target.split("#")[0]}
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert sorted(p.name for p in pages - linked) == []


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z]+:", target):  # http(s):, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append((page.name, target, "no such file"))
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append((page.name, target, "no such heading"))
    assert broken == []


def test_the_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title here\n\n[a](missing.md) `[b](code.md)` [c](#title-here) [d](https://x.org)\n"
                    "```sh\n[e](f.md)\n```\n")
    assert links(page) == ["missing.md", "#title-here", "https://x.org"]
    assert anchors(page) == {"title-here"}
