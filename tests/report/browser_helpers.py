"""Open a report in headless Chromium and read back what rendered (sections, decoded images)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Appended to a copy of the report: at the load event (which waits for every image), records what
# rendered. A broken image is complete with naturalWidth 0.
CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = {
    images: imgs.map(i => ({alt: i.alt, decoded: i.complete && i.naturalWidth > 0, w: i.naturalWidth,
                            h: i.naturalHeight, shownW: i.getBoundingClientRect().width, src: i.src.length})),
    sections: [...document.querySelectorAll('section')].map(s => ({id: s.id,
      height: s.getBoundingClientRect().height, title: (s.querySelector('h2') || {}).textContent || '',
      tables: s.querySelectorAll('table').length, rows: s.querySelectorAll('tbody tr').length})),
    nav: [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href')),
    resources: performance.getEntriesByType('resource').map(r => r.name),
  };
  const pre = document.createElement('pre');
  pre.id = 'advrec-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium_or_skip() -> str:
    """The Chromium binary; skipped when absent, except under CI (CI=true), where it must be there."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but chromium is not installed (.ci/run installs the Debian package)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


def render_check(chromium: str, html: Path, work: Path) -> dict:
    """Load a copy of ``html`` with CHECK_SCRIPT in headless Chromium (fresh profile) and return the
    recorded JSON."""
    page = work / "check.html"
    text = html.read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={work / 'profile'}",
        "--window-size=1300,2000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="advrec-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no check output from chromium (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(match.group(1)))


def screenshot(
    chromium: str, html: Path, png: Path, work: Path, width: int = 1300, height: int = 3000
) -> None:
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={work / 'profile-shot'}",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
