"""The report's figures as PNG bytes (embedded in the HTML as base64).

matplotlib is imported inside the functions and drawn through its Agg canvas on a bare ``Figure`` (no
pyplot, no global backend switch). Each function returns None when it has nothing to draw.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

from advrec.perturb.methods.registry import label as attack_label
from advrec.report.collect import RunRecord

ATTACK_STYLES = {"fgsm": "-", "pgd": "--"}


def _figure(n_panels: int, width: float = 4.4, height: float = 3.3, max_cols: int = 3):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(n_panels, max_cols)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def colors(labels: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


def _label(metric: str) -> str:
    name, _, k = metric.partition("@")
    pretty = {"ndcg": "NDCG", "recall": "Recall", "precision": "Precision", "hit": "Hit", "auc": "AUC"}
    return pretty.get(name, name) + (f"@{k}" if k else "")


def _numeric_keys(history: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in history:
        for key, value in row.items():
            if key not in keys and isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.append(key)
    return keys


def training_panels(
    groups: dict[str, list[RunRecord]], valid_metrics: tuple[str, ...] = ("ndcg@10", "recall@10")
) -> list[tuple[str, str]]:
    """What the training figure shows: ``("loss", key)`` for every loss key logged (each player's),
    ``("valid", metric)`` for each valid metric logged, ``("lr", key)`` for each learning rate key."""
    runs = [r for rs in groups.values() for r in rs if r.history]
    keys = [k for r in runs for k in _numeric_keys(r.history)]
    loss_keys = list(dict.fromkeys(k for k in keys if k.endswith("loss")))
    lr_keys = list(dict.fromkeys(k for k in keys if k == "lr" or k.startswith("lr_")))
    valid = [m for m in valid_metrics if any(m in (h.get("valid") or {}) for r in runs for h in r.history)]
    return [("loss", k) for k in loss_keys] + [("valid", m) for m in valid] + [("lr", k) for k in lr_keys]


def training_curves(
    groups: dict[str, list[RunRecord]], valid_metrics: tuple[str, ...] = ("ndcg@10", "recall@10")
):
    """Per epoch: each loss logged (every player's for GAN runs), valid metrics, learning rate(s).
    One colour per system, one line per seed."""
    panels = training_panels(groups, valid_metrics)
    if not panels:
        return None
    lr_keys = [k for kind, k in panels if kind == "lr"]
    panels = [p for p in panels if p[0] != "lr"] + ([("lr", "")] if lr_keys else [])
    fig, axes = _figure(len(panels))
    palette = colors(list(groups))
    for ax, (kind, key) in zip(axes, panels):
        for label, members in groups.items():
            for i, run in enumerate(r for r in members if r.history):
                style = {"color": palette[label], "alpha": 1.0 if i == 0 else 0.45, "lw": 1.3}
                name = label if i == 0 else None
                if kind == "valid":
                    pts = [
                        (h["epoch"], h["valid"][key]) for h in run.history if key in (h.get("valid") or {})
                    ]
                    if pts:
                        ax.plot(*zip(*pts), label=name, **style)
                elif kind == "lr":
                    for j, lr_key in enumerate(lr_keys):
                        pts = [(h["epoch"], h[lr_key]) for h in run.history if lr_key in h]
                        if pts:
                            ls = ["-", "--", ":"][j % 3]
                            tag = f"{label} ({lr_key})" if len(lr_keys) > 1 and i == 0 else name
                            ax.plot(*zip(*pts), ls=ls, label=tag, **style)
                else:
                    pts = [(h["epoch"], h[key]) for h in run.history if isinstance(h.get(key), (int, float))]
                    if pts:
                        ax.plot(*zip(*pts), label=name, **style)
        title = {
            "loss": f"training {key.replace('_', ' ')}",
            "valid": f"valid {_label(key)}",
            "lr": "learning rate",
        }
        ax.set_title(title[kind], fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _png(fig)


def robustness_curves(table: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "recall@10")):
    """Metric against ε, one line per system and attack (mean ± std over seeds), starting at the clean
    value (ε = 0)."""
    if table.empty:
        return None
    shown = [m for m in metrics if m in set(table.metric)]
    fig, axes = _figure(len(shown), 4.8, 3.6)
    systems = list(dict.fromkeys(table.system))
    palette = colors(systems)
    for ax, metric in zip(axes, shown):
        part = table[table.metric == metric]
        for (system, attack), rows in part.groupby(["system", "attack"], sort=False):
            rows = rows.assign(e=rows.eps.astype(float)).sort_values("e")
            x = np.concatenate([[0.0], rows.e.to_numpy()])
            y = np.concatenate([[rows.clean.iloc[0]], rows.perturbed.to_numpy()])
            err = np.concatenate([[0.0], np.nan_to_num(rows.perturbed_std.to_numpy())])
            ax.errorbar(
                x,
                y,
                yerr=err,
                color=palette[system],
                ls=ATTACK_STYLES.get(attack, "-."),
                marker="o",
                ms=3,
                capsize=2,
                label=f"{system} ({attack_label(attack)})",
            )
        ax.set_title(f"{_label(metric)} under attack", fontsize=10)
        ax.set_xlabel("ε (perturbation budget per embedding row)")
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _png(fig)


def tradeoff(table: pd.DataFrame, eps: str | None, metric: str = "ndcg@10"):
    """Clean metric (x) vs the metric at ε (y), one point per system (error bars: std over seeds), one
    panel per attack; the dotted diagonal is 'no loss'."""
    part = table[(table.metric == metric) & (table.eps == eps)] if not table.empty else table
    if part.empty:
        return None
    attacks = list(dict.fromkeys(part.attack))
    fig, axes = _figure(len(attacks), 4.6, 3.8)
    palette = colors(list(dict.fromkeys(table.system)))
    for ax, attack in zip(axes, attacks):
        rows = part[part.attack == attack]
        for row in rows.itertuples():
            err = 0.0 if math.isnan(row.perturbed_std) else row.perturbed_std
            ax.errorbar(
                row.clean,
                row.perturbed,
                yerr=err,
                color=palette[row.system],
                marker="o",
                ms=7,
                capsize=3,
                label=row.system,
            )
            ax.annotate(
                row.system, (row.clean, row.perturbed), textcoords="offset points", xytext=(5, 5), fontsize=8
            )
        lo = float(min(rows.perturbed.min(), rows.clean.min()))
        hi = float(max(rows.perturbed.max(), rows.clean.max()))
        pad = 0.1 * (hi - lo) + 1e-3
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ":", color="grey", lw=1)
        ax.set_title(f"accuracy vs robustness ({attack_label(attack)}, ε = {eps})", fontsize=10)
        ax.set_xlabel(f"clean {_label(metric)}")
        ax.set_ylabel(f"{_label(metric)} at ε = {eps}")
        ax.grid(alpha=0.3)
    return _png(fig)


def poisoning_bars(table: pd.DataFrame):
    """Target metrics before / after the attack / with the defence, per system and attack."""
    if table.empty:
        return None
    target = table[table.metric.str.startswith("target_")]
    part = target if not target.empty else table
    metrics = list(dict.fromkeys(part.metric))
    fig, axes = _figure(len(metrics), 5.0, 3.6)
    stage_colors = {"before": "tab:green", "after": "tab:red", "defended": "tab:blue"}
    for ax, metric in zip(axes, metrics):
        rows = part[part.metric == metric]
        cases = list(dict.fromkeys(zip(rows.system, rows.attack)))
        stages = [s for s in ("before", "after", "defended") if s in set(rows.stage)]
        width = 0.8 / len(stages)
        for j, stage in enumerate(stages):
            vals, errs = [], []
            for system, attack in cases:
                hit = rows[(rows.system == system) & (rows.attack == attack) & (rows.stage == stage)]
                vals.append(float(hit["mean"].iloc[0]) if len(hit) else 0.0)
                errs.append(float(np.nan_to_num(hit["std"].iloc[0])) if len(hit) else 0.0)
            x = np.arange(len(cases)) + (j - (len(stages) - 1) / 2) * width
            ax.bar(x, vals, width, yerr=errs, color=stage_colors[stage], label=stage, capsize=2)
        ax.set_xticks(np.arange(len(cases)), [f"{s}\n{a}" for s, a in cases], fontsize=8)
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return _png(fig)


def roc_pr(scores: dict[str, pd.DataFrame]):
    """ROC and precision-recall curves of each detector from its per-user ``label`` (1 = fake) and
    ``score`` (higher = more likely fake)."""
    curves = {}
    for name, frame in scores.items():
        y = frame["label"].to_numpy(dtype=np.float64)
        s = frame["score"].to_numpy(dtype=np.float64)
        if y.sum() == 0 or y.sum() == len(y):
            continue
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(y[order])
        fp = np.cumsum(1 - y[order])
        curves[name] = (
            np.concatenate([[0], fp / fp[-1]]),
            np.concatenate([[0], tp / tp[-1]]),
            tp / tp[-1],
            tp / (tp + fp),
        )
    if not curves:
        return None
    fig, (roc, pr) = _figure(2, 4.4, 3.6)
    for name, (fpr, tpr, rec, prec) in curves.items():
        roc.plot(fpr, tpr, label=name)
        pr.plot(rec, prec, label=name)
    roc.plot([0, 1], [0, 1], ":", color="grey")
    roc.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    pr.set(title="precision-recall", xlabel="recall", ylabel="precision")
    for ax in (roc, pr):
        ax.grid(alpha=0.3)
    roc.legend(fontsize=8)
    return _png(fig)
