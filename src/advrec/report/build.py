"""``advrec report``: collect the runs under a folder, compute the tables, draw the plots, and write
``report.html`` (self-contained), ``report.md`` and the CSV tables next to it, each atomically."""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from advrec.errors import AdvrecError
from advrec.report import plots
from advrec.report.collect import RunRecord, find_runs, group_runs
from advrec.report.per_user import can_write_per_user, write_per_user
from advrec.report.render import Section, render_html, render_markdown
from advrec.report.tables import (
    PairedBy,
    detection_table,
    format_mean_std,
    leaderboard,
    poisoning_table,
    robustness_table,
    significance,
)
from advrec.utils.files import atomic_write_text

HEADLINE = ("ndcg@10", "recall@10", "precision@10", "hit@10", "mrr@10", "map@10", "f1@10", "auc")
SECTION_IDS = (
    "overview",
    "leaderboard",
    "significance",
    "training",
    "robustness",
    "tradeoff",
    "poisoning",
    "detection",
)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    csvs: list[Path]
    sections: list[str]


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g")
    return buffer.getvalue()


def _mark(row: pd.Series | None) -> str:
    if row is None:
        return ""
    marks = ("*" if row["significant_t"] else "") + ("†" if row["significant_wilcoxon"] else "")
    return f" {marks}" if marks else ""


def _leaderboard_display(board: pd.DataFrame, sig: pd.DataFrame, groups: dict[str, list[RunRecord]]):
    # the headline metrics only (the CSV has every metric)
    metrics = [m for m in HEADLINE if m in set(board.metric)] or list(dict.fromkeys(board.metric))
    rows = []
    for system in dict.fromkeys(board.system):
        row: dict[str, object] = {"system": system, "seeds": len(groups[system])}
        for metric in metrics:
            cell = board[(board.system == system) & (board.metric == metric)]
            if cell.empty:
                row[metric] = "–"
                continue
            hit = None
            if not sig.empty:
                s = sig[(sig.system == system) & (sig.metric == metric)]
                hit = s.iloc[0] if len(s) else None
            row[metric] = format_mean_std(float(cell["mean"].iloc[0]), float(cell["std"].iloc[0])) + _mark(
                hit
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def _counted_from_one(epoch: object) -> int | str:
    """``results.json``'s 0-based best epoch as logs and tables count epochs (from 1); '–' if absent."""
    return epoch + 1 if isinstance(epoch, int) else "–"


def _pick_eps(table: pd.DataFrame, eps: str | None) -> str | None:
    if table.empty:
        return None
    keys = sorted(set(table.eps), key=float)
    if eps is not None:
        match = [k for k in keys if math.isclose(float(k), float(eps))]
        if not match:
            raise AdvrecError(f"--eps {eps}: not probed; the runs have ε = {', '.join(keys)}")
        return match[0]
    per_system = [set(table[table.system == s].eps) for s in dict.fromkeys(table.system)]
    common = sorted(set.intersection(*per_system), key=float) or keys
    return common[len(common) // 2]


def _detection_scores(groups: dict[str, list[RunRecord]]) -> dict[str, pd.DataFrame]:
    """Per-user detector scores: CSV files named ``*scores*.csv`` in a run's ``detection/`` folder (or
    the run folder) with a ``label`` column and either ``score`` (optionally with ``detector``) or one
    ``<detector>_score`` column per detector (``advrec detect``'s ``detection_scores.csv``); others
    skipped."""
    out: dict[str, pd.DataFrame] = {}
    for label, runs in groups.items():
        for run in runs:
            files = sorted((run.path / "detection").glob("*scores*.csv")) + sorted(
                run.path.glob("*scores*.csv")
            )
            for path in files:
                try:
                    frame = pd.read_csv(path)
                except (ValueError, OSError):
                    continue
                if "label" not in frame.columns:
                    continue
                wide = [c for c in frame.columns if c.endswith("_score")]
                if "score" not in frame.columns:
                    for column in wide:
                        part = frame[["label", column]].rename(columns={column: "score"})
                        out.setdefault(f"{label}: {column[: -len('_score')]}", part)
                    continue
                if "detector" in frame.columns:
                    for det, part in frame.groupby("detector"):
                        out.setdefault(f"{label}: {det}", part)
                else:
                    name = path.stem.replace("_scores", "").replace("scores", "") or "detector"
                    out.setdefault(f"{label}: {name}", frame)
    return out


def _ensure_per_user(run: RunRecord, device: str | None = None) -> bool:
    if not can_write_per_user(run.path):
        return False
    write_per_user(run.path, device)
    return True


def build_report(
    path: str | Path,
    out: str | Path | None = None,
    *,
    baseline: str | None = None,
    paired_by: PairedBy = "auto",
    eps: str | None = None,
    compute_per_user: bool = True,
    title: str | None = None,
    device: str | None = None,
) -> ReportFiles:
    """Write the report of every run at or under ``path``; ``out`` is the HTML file (default
    ``<path>/report.html``); the Markdown and the CSVs go next to it (``<stem>.md``, ``<stem>_*.csv``).

    ``baseline``: the system the others are tested against (default: the first, in path order).
    ``compute_per_user``: when significance is paired by user and a run lacks ``per_user_test.csv``,
    evaluate its best checkpoint per user (on ``device``, default the run's own) and write the file into
    the run folder.
    """
    root = Path(path)
    runs = find_runs(root)
    groups = group_runs(runs)
    if baseline is None:
        baseline = next(iter(groups))
    elif baseline not in groups:
        raise AdvrecError(f"--baseline {baseline!r}: no such system; systems: {', '.join(groups)}")
    out = Path(out) if out else root / "report.html"
    stem = out.with_suffix("")

    board = leaderboard(groups)
    sig = pd.DataFrame()
    if len(groups) > 1 and not board.empty:
        sig = significance(
            groups,
            baseline,
            paired_by,
            ensure_per_user=(lambda run: _ensure_per_user(run, device)) if compute_per_user else None,
        )
    robust = robustness_table(groups)
    poison = poisoning_table(groups)
    detect = detection_table(groups)

    sections: list[Section] = []
    overview = pd.DataFrame(
        [
            {
                "system": r.label,
                "seed": "–" if r.seed is None else r.seed,
                "folder": r.path.relative_to(root).as_posix() if r.path != root else ".",
                "best epoch": _counted_from_one(r.results.get("best_epoch")),
                "epochs run": r.results.get("epochs_run", "–"),
                "train s/epoch": (r.results.get("timing") or {}).get("train_s_per_epoch", float("nan")),
                # runs written before time_to_best_s existed show NaN
                "s to best": (r.results.get("timing") or {}).get("time_to_best_s", float("nan")),
            }
            for r in runs
        ]
    )
    sections.append(Section("overview", "Runs", "Each run folder, its system and seed.", [("", overview)]))
    if not board.empty:
        note = (
            "Test metrics (read once, at the epoch selected on valid), mean ± std over seeds. "
            f"Baseline: {baseline} (highlighted). * paired t-test p < 0.05, † Wilcoxon signed-rank p < 0.05, "
            "against the baseline, in either direction (see Significance)."
        )
        sections.append(
            Section("leaderboard", "Leaderboard", note, [("", _leaderboard_display(board, sig, groups))])
        )
    if not sig.empty:
        shown = sig[sig.metric.isin(HEADLINE)] if sig.metric.isin(HEADLINE).any() else sig
        cols = [
            "system",
            "metric",
            "paired_by",
            "n",
            "mean_diff",
            "t",
            "p_t",
            "wilcoxon",
            "p_wilcoxon",
            "reason",
        ]
        note = (
            f"Each system against {baseline}: mean difference (system − baseline) and two-sided p-values, "
            "paired by seed, or by user (each user's test metric averaged over the common seeds)."
            " With n seeds the Wilcoxon p-value cannot go below 2/2^n (0.25 for 3 seeds)."
            " All metrics are in the CSV."
        )
        sections.append(Section("significance", "Significance", note, [("", shown[cols])]))
    curves = plots.training_curves(groups)
    if curves:
        note = (
            "Per epoch: each training loss logged (every player's for GAN runs; APR's loss includes the "
            "adversarial term, also shown alone as adv loss), valid metrics, learning rate."
        )
        sections.append(Section("training", "Training curves", note, images=[("training curves", curves)]))
    if not robust.empty:
        shown = robust[robust.metric == "ndcg@10"] if (robust.metric == "ndcg@10").any() else robust
        display = shown.assign(
            perturbed=[format_mean_std(m, s) for m, s in zip(shown.perturbed, shown.perturbed_std)],
            drop=[_pct(d) for d in shown["drop"]],
            random_drop=[_pct(d) for d in shown["random_drop"]],
        )[["system", "attack", "eps", "metric", "clean", "perturbed", "drop", "random", "random_drop", "n"]]
        note = (
            "Test metric after perturbing every user and item embedding row adversarially with norm ε "
            "(advrec evaluate --attack), mean ± std over seeds, and its relative drop; 'random' is the "
            "same-norm random-direction control. Every ε and Recall@10 are in the CSV."
        )
        sections.append(
            Section(
                "robustness",
                "Robustness",
                note,
                [("", display)],
                [("robustness curves", plots.robustness_curves(robust))],
            )
        )
        chosen = _pick_eps(robust, eps)
        image = plots.tradeoff(robust, chosen)
        if image:
            note = (
                f"Clean NDCG@10 against NDCG@10 under attack at ε = {chosen}, one point per system; up and "
                "to the right is better, the dotted diagonal is 'no loss'."
            )
            sections.append(
                Section("tradeoff", "Accuracy–robustness trade-off", note, images=[("trade-off", image)])
            )
    if not poison.empty:
        display = poison.assign(value=[format_mean_std(m, s) for m, s in zip(poison["mean"], poison["std"])])
        wide = display.pivot_table(
            index=["system", "attack", "metric"], columns="stage", values="value", aggfunc="first"
        ).reset_index()
        wide.columns.name = None
        images = [("poisoning impact", img)] if (img := plots.poisoning_bars(poison)) else []
        note = "Target-item metrics before the attack, after it, and with the defence (advrec attack)."
        sections.append(Section("poisoning", "Poisoning impact", note, [("", wide)], images))
    if not detect.empty:
        scores = _detection_scores(groups)
        images = [("detection ROC and PR curves", img)] if (img := plots.roc_pr(scores)) else []
        note = "Fake-profile detectors against known labels (advrec detect)."
        sections.append(Section("detection", "Detection", note, [("", detect)], images))

    title = title or f"advrec report: {root.resolve().name}"
    intro = (
        f"{len(runs)} run(s), {len(groups)} system(s) under {root}; generated "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    )
    html_path, md_path = out, stem.with_suffix(".md")
    atomic_write_text(html_path, render_html(title, intro, sections, baseline))
    atomic_write_text(md_path, render_markdown(title, intro, sections, html_path.name))
    csvs = []
    for name, frame in (
        ("leaderboard", board),
        ("significance", sig),
        ("robustness", robust),
        ("poisoning", poison),
        ("detection", detect),
    ):
        if frame.empty:
            continue
        csv_path = Path(f"{stem}_{name}.csv")
        atomic_write_text(csv_path, _csv(frame))
        csvs.append(csv_path)
    return ReportFiles(html_path, md_path, csvs, [s.id for s in sections])
