"""User documentation speaks of the software: no narration of how the work was organised (issue numbers,
work sessions, planners) in the README, the docs, the example configs, the benchmark notes or docstrings."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "examples").rglob("*.yaml"),
        *(ROOT / "examples").rglob("*.md"),
        *(ROOT / "benchmarks").glob("*.md"),
        *(ROOT / "src" / "advrec").rglob("*.py"),
    ]
)
NARRATION = re.compile(r"\bissue\s+#?\d+|\b(work(ing)?\s+)?sessions?\b|\bplanners?\b", re.IGNORECASE)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_narration_of_the_work(path):
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if NARRATION.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_check_sees_narration(tmp_path):
    assert NARRATION.search("as decided in issue 7") and NARRATION.search("the fifth session measured")
    assert not NARRATION.search("the robustness probe (issue-free text)")
