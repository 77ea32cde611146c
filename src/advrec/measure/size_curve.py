"""Target exposure against attack size: how many fake users an attack needs to reach a given gain.

A poisoning bar such as "5x target Hit@50 at 3% fake users" is one point of a curve; the curve says how
far an attack is from the bar in the attacker's own currency (fake users). Input rows are one attack
run each (``attack``, ``size``, ``seed``, ``before`` and ``after`` target Hit@50); ``summarise`` pools
them over seeds as the poisoning tables do (mean of the per-seed figures, the gain as the ratio of the
means, so a seed with a near-zero "before" does not dominate), and ``plot_size_curve`` draws them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from advrec.errors import AdvrecError

REQUIRED = ("attack", "size", "seed", "before", "after")


def summarise(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (attack, size), sorted: seeds, mean before / after, the after figures' sample std
    (0 for one seed) and the gain, mean after / mean before (inf when nothing was exposed before)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for i, row in enumerate(rows):
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise AdvrecError(f"size curve row {i}: missing {', '.join(missing)}")
        groups[(str(row["attack"]), float(row["size"]))].append(row)
    if not groups:
        raise AdvrecError("size curve: no runs to summarise")
    out = []
    for (attack, size), members in sorted(groups.items()):
        seeds = [int(r["seed"]) for r in members]
        if len(set(seeds)) != len(seeds):
            raise AdvrecError(f"size curve: {attack} at size {size} lists a seed twice: {sorted(seeds)}")
        before = np.array([float(r["before"]) for r in members])
        after = np.array([float(r["after"]) for r in members])
        out.append(
            {
                "attack": attack,
                "size": size,
                "seeds": len(members),
                "before": float(before.mean()),
                "after": float(after.mean()),
                "after_std": float(after.std(ddof=1)) if len(after) > 1 else 0.0,
                "gain": float(after.mean() / before.mean()) if before.mean() > 0 else float("inf"),
            }
        )
    return out


def plot_size_curve(
    summary: list[dict[str, Any]], runs: list[dict[str, Any]], path: str | Path, metric: str = "target Hit@50"
) -> Path:
    """Left: the metric after the attack against the share of fake users (mean and each seed), with the
    clean level; right: the gain (mean after / mean before)."""
    from advrec.measure.plots import new_figure, save_figure

    fig, axes = new_figure(1, 2, 5.0, 3.6)
    left, right = axes[0][0], axes[0][1]
    attacks = sorted({s["attack"] for s in summary})
    for attack in attacks:
        points = [s for s in summary if s["attack"] == attack]
        pct = [100 * s["size"] for s in points]
        (line,) = left.plot(pct, [s["after"] for s in points], marker="o", label=attack)
        seed_runs = [r for r in runs if r["attack"] == attack]
        left.scatter(
            [100 * float(r["size"]) for r in seed_runs],
            [float(r["after"]) for r in seed_runs],
            s=10,
            alpha=0.35,
            color=line.get_color(),
        )
        right.plot(pct, [s["gain"] for s in points], marker="o", color=line.get_color(), label=attack)
    clean = float(np.mean([s["before"] for s in summary]))
    left.axhline(clean, color="grey", linestyle="--", label="before (clean victim)")
    left.set_xlabel("fake users, % of real users")
    left.set_ylabel(f"{metric} after the attack")
    left.legend(fontsize=8)
    right.axhline(1.0, color="grey", linestyle="--")
    right.set_xlabel("fake users, % of real users")
    right.set_ylabel("gain (mean after / mean before)")
    n_seeds = max(s["seeds"] for s in summary)
    fig.suptitle(f"{metric} against attack size ({n_seeds} seeds)", fontsize=9)
    return save_figure(fig, path)
