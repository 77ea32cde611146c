"""HTML (self-contained: inline CSS, plots as base64 PNG, no script, no external resource) and Markdown."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:1.5em auto;max-width:1320px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .5em;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
tr.base td{background:#fff8e0}.sig{color:#b00;font-weight:bold;white-space:nowrap}
.note{color:#555;font-size:.88em}
img{max-width:100%;display:block;margin:.5em 0}nav a{margin-right:1em}.scroll{overflow-x:auto}
"""


@dataclass
class Section:
    """One report section: a stable id (the HTML anchor), a title, a note, tables and images."""

    id: str
    title: str
    note: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, display frame)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (alt text, PNG)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def _html_table(frame: pd.DataFrame, highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cls = ' class="base"' if highlight is not None and str(row[0]) == highlight else ""
        cells = []
        for value in row:
            text = html.escape(_cell(value))
            if text.endswith((" *", " †", " *†")):
                text = f'<span class="sig">{text}</span>'
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def render_html(title: str, intro: str, sections: list[Section], baseline: str | None = None) -> str:
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(intro)}</p>',
        f"<nav>{nav}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.id}" class="report-section">')
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        for caption, frame in section.tables:
            if caption:
                parts.append(f"<h3>{html.escape(caption)}</h3>")
            parts.append(_html_table(frame, baseline))
        for alt, png in section.images:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def render_markdown(title: str, intro: str, sections: list[Section], html_name: str) -> str:
    parts = [f"# {title}", "", intro, "", f"Plots: `{html_name}`.", ""]
    for section in sections:
        if not section.tables:
            continue
        parts += [f"## {section.title}", ""]
        if section.note:
            parts += [section.note, ""]
        for caption, frame in section.tables:
            if caption:
                parts += [f"**{caption}**", ""]
            parts += [_md_table(frame), ""]
    return "\n".join(parts)
