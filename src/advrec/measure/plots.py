"""PNG plots of robustness ε curves: one run's (``advrec evaluate --attack``), several methods side by side.

matplotlib is imported inside the functions (importing advrec does no plotting work) and drawn through
its Agg canvas on a bare ``Figure``: no pyplot, no global backend switch, nothing left open. Files are
written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advrec.perturb.methods.registry import color as attack_color
from advrec.perturb.methods.registry import label as attack_label
from advrec.perturb.methods.registry import probe_attacks
from advrec.utils.plotting import new_figure, save_figure


def _metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    pretty = {"ndcg": "NDCG", "recall": "Recall", "precision": "Precision", "hit": "Hit", "auc": "AUC"}
    return pretty.get(name, name) + (f"@{k}" if k else "")


def _eps_label(modes: set[str]) -> str:
    return "ε (× row norm)" if modes == {"relative"} else "ε (row L2 norm)" if modes == {"absolute"} else "ε"


def plot_run_robustness(
    robustness: dict[str, Any],
    path: str | Path,
    metrics: Sequence[str] = ("ndcg@10", "recall@10"),
    title: str | None = None,
) -> Path:
    """One panel per metric (those of ``metrics`` the run has; else its first metric): the perturbed
    value against ε for each attack (solid) and its same-norm random control (dashed, same colour),
    the clean value as a horizontal line. ``robustness`` is ``results.json``'s entry."""
    attacks = [a for a in probe_attacks() if a in robustness]
    if not attacks:
        raise ValueError("no attack in the robustness entry")
    shown = [m for m in metrics if m in robustness["clean"]] or list(robustness["clean"])[:1]
    fig, axes = new_figure(1, len(shown), 4.6, 3.6)
    for ax, metric in zip(axes[0], shown):
        ax.axhline(robustness["clean"][metric], color="black", linestyle=":", linewidth=1.2, label="clean")
        for attack in attacks:
            color = attack_color(attack)
            for source, style, label in (
                (robustness[attack], "-o", attack_label(attack)),
                (robustness["random"][attack], "--s", f"random, {attack_label(attack)} norms"),
            ):
                eps = sorted(source, key=float)
                ax.plot(
                    [float(e) for e in eps],
                    [source[e][metric] for e in eps],
                    style,
                    color=color,
                    markersize=4,
                    label=label,
                )
        ax.set_xlabel(_eps_label({robustness["settings"][a]["eps_mode"] for a in attacks}))
        ax.set_ylabel(f"test {_metric_label(metric)}")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_method_comparison(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    metric: str = "ndcg@10",
    title: str | None = None,
) -> Path:
    """Methods side by side, one column per attack: top, the perturbed ``metric`` against ε (ε = 0 is
    clean); bottom, its relative drop in %. Solid: the attack; dashed: its same-norm random control;
    error bars: std over seeds. ``rows`` are ``benchmarks/apr_robustness.py``'s CSV rows (keys method,
    attack, control, eps, metric, clean_mean, perturbed_mean, perturbed_std, drop_mean, drop_std)."""
    rows = [r for r in rows if r["metric"] == metric]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    attacks = [a for a in probe_attacks() if any(r["attack"] == a for r in rows)]
    if not rows or not attacks:
        raise ValueError(f"no rows for metric {metric!r}")
    colors = [f"C{i}" for i in range(10)]
    fig, axes = new_figure(2, len(attacks), 4.8, 3.4)
    for col, attack in enumerate(attacks):
        for i, method in enumerate(methods):
            color = colors[i % len(colors)]
            for control, style in (("adversarial", "-o"), ("random", "--s")):
                key = (method, attack, control)
                sel = [r for r in rows if (r["method"], r["attack"], r["control"]) == key]
                sel.sort(key=lambda r: float(r["eps"]))
                if not sel:
                    continue
                label = method if control == "adversarial" else f"{method}, random control"
                clean = float(sel[0]["clean_mean"])
                eps = [0.0] + [float(r["eps"]) for r in sel]
                value = [clean] + [float(r["perturbed_mean"]) for r in sel]
                value_std = [0.0] + [float(r["perturbed_std"]) for r in sel]
                drop = [0.0] + [100 * float(r["drop_mean"]) for r in sel]
                drop_std = [0.0] + [100 * float(r["drop_std"]) for r in sel]
                kw = {"color": color, "markersize": 4, "capsize": 2, "linewidth": 1.3}
                axes[0][col].errorbar(eps, value, yerr=value_std, fmt=style, label=label, **kw)
                axes[1][col].errorbar(eps, drop, yerr=drop_std, fmt=style, **kw)
        axes[0][col].set_title(f"{attack_label(attack)} probe", fontsize=10)
        axes[0][col].set_ylabel(f"test {_metric_label(metric)}")
        axes[1][col].set_ylabel(f"relative drop of {_metric_label(metric)} (%)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xlabel("ε (row L2 norm)")
            ax.grid(alpha=0.3)
        axes[0][col].set_ylim(bottom=0)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
