"""The README stays short, and every page it points to under docs/ exists."""

from __future__ import annotations

import re
from pathlib import Path

from gitops.toolchain import repo_root

ROOT = repo_root()
MAX_README_WORDS = 2000
LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(page: Path) -> list[tuple[Path, str]]:
    """The local targets of a page's Markdown links and images: (file, anchor); web links are left out."""
    found = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        found.append(((page.parent / path).resolve() if path else page, anchor))
    return found


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_readme_is_at_most_2000_words():
    words = len((ROOT / "README.md").read_text().split())  # what `wc -w` counts
    assert words <= MAX_README_WORDS, f"README.md has {words} words; move detail into docs/"


def test_every_docs_link_in_the_readme_exists():
    targets = [(path, anchor) for path, anchor in links(ROOT / "README.md") if ROOT / "docs" in path.parents]
    assert targets
    for path, anchor in targets:
        assert path.is_file(), path.relative_to(ROOT)
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{path.relative_to(ROOT)}#{anchor}"


def test_every_docs_page_is_linked_from_the_readme_and_its_links_resolve():
    linked = {path for path, _ in links(ROOT / "README.md")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert page in linked, f"{page.relative_to(ROOT)} is not linked from README.md"
        for path, anchor in links(page):
            assert path.is_file(), f"{page.relative_to(ROOT)}: {path}"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{page.relative_to(ROOT)}: {path.name}#{anchor}"
