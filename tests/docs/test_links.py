"""The user docs hold together: every relative link resolves (the file exists and, for ``#anchor``, the
heading does), every repository path quoted in backticks exists, and the README stays short.

Links to the web are not followed (no network in tests). Anchors follow GitHub's rule for heading ids.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", ROOT / "examples" / "README.md", ROOT / "benchmarks" / "README.md"]
    + list((ROOT / "docs").rglob("*.md"))
)
README_MAX_LINES = 200
# Pages that changes made alongside this one add. A link to one is accepted while the page does not
# exist yet; once it exists, the link and its anchor are checked like any other.
PENDING: set[str] = set()

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
QUOTED_PATH = re.compile(r"`((?:src|docs|examples|benchmarks|tests)/[^`\s:*<>{}]+)")


def prose(text: str) -> str:
    """The Markdown outside fenced code blocks (commands there are not links)."""
    return FENCE.sub("", text)


def heading_ids(path: Path) -> set[str]:
    """GitHub's ids: lower case, inline markup and punctuation dropped, spaces to '-', '-N' for repeats."""
    ids: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(prose(path.read_text(encoding="utf-8")))]


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if rel not in PENDING or anchor:
                problems.append(f"{target}: no file {rel}")
            continue
        if anchor and dest.suffix == ".md" and anchor not in heading_ids(dest):
            problems.append(f"{target}: no heading #{anchor} in {rel}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_quoted_repository_path_exists(path):
    quoted = {m.group(1).rstrip(".,;") for m in QUOTED_PATH.finditer(prose(path.read_text(encoding="utf-8")))}
    missing = sorted(p for p in quoted if not (ROOT / p).exists() and p not in PENDING)
    assert missing == []


def test_docs_named_in_code_and_configs_exist():
    """Docstrings, benchmark scripts and example configs point at docs pages by path; those pages exist."""
    sources = [
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
        *(ROOT / "examples").rglob("*.yaml"),
    ]
    named = {
        (m.group(0), path.relative_to(ROOT).as_posix())
        for path in sources
        for m in re.finditer(r"docs/[\w./-]+\.md", path.read_text(encoding="utf-8"))
    }
    assert (
        sorted((doc, where) for doc, where in named if not (ROOT / doc).exists() and doc not in PENDING) == []
    )


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES


def test_the_checks_catch_a_broken_link_and_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "a.md").write_text("# Title `x`\n## Same\n## Same\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#title-x) [ok](a.md#same-1) [bad](a.md#nope) [gone](c.md)\n```\n[in code](d.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["a.md#nope: no heading #nope in a.md", "c.md: no file c.md"]
