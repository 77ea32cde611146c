"""The attack run's bar chart: target exposure and clean accuracy before / after / defended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advrec.measure.plots import new_figure, save_figure

EXPOSURE = ("target_hit@10", "target_hit@20", "target_hit@50", "target_ndcg@50")
CLEAN = ("ndcg@10", "recall@10")
COLUMNS = (("before", "tab:green"), ("after", "tab:red"), ("defended", "tab:blue"))


def plot_poisoning(poisoning: dict[str, Any], path: str | Path) -> Path:
    fig, axes = new_figure(1, 2, 5.0, 3.6)
    columns = [(name, color) for name, color in COLUMNS if name in poisoning]
    width = 0.8 / len(columns)
    for ax, keys, title in (
        (axes[0][0], EXPOSURE, "target exposure (real users)"),
        (axes[0][1], CLEAN, "clean test"),
    ):
        for j, (name, color) in enumerate(columns):
            label = name if name != "defended" else f"defended ({poisoning.get('defence')})"
            values = [poisoning[name].get(k, float("nan")) for k in keys]
            ax.bar(
                [i + (j - (len(columns) - 1) / 2) * width for i in range(len(keys))],
                values,
                width,
                label=label,
                color=color,
            )
        ax.set_xticks(range(len(keys)), [k.replace("target_", "") for k in keys])
        ax.set_title(title)
    axes[0][0].legend()
    fig.suptitle(
        f"{poisoning['attack']} attack, {poisoning['n_fake']} fake users, targets {poisoning['targets']}",
        fontsize=9,
    )
    return save_figure(fig, path)
