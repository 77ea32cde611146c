"""One PNG per GAN run: D(real) and D(fake), both losses, and the mode-collapse signal, per epoch.

matplotlib is imported here, lazily, and drawn through its Agg canvas directly: no global backend is
switched, so importing advrec never touches a user's matplotlib configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advrec.utils.files import atomic_write


def _series(history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    rows = [(h["epoch"], h[key]) for h in history if key in h]
    return [r[0] for r in rows], [r[1] for r in rows]


def plot_gan_history(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    panels = fig.subplots(1, 3)
    diversity = sorted({k for h in history for k in h if k.startswith("g_top")})
    groups = [
        ("discriminator outputs σ(D)", ["d_real", "d_fake"]),
        ("losses", ["d_loss", "g_loss"]),
        ("generator top-k over users", diversity),
    ]
    for ax, (name, keys) in zip(panels, groups):
        for key in keys:
            x, y = _series(history, key)
            if x:
                ax.plot(x, y, label=key, linewidth=1.2)
        if name == "generator top-k over users":
            x, y = _series(
                [
                    {**h, "valid ndcg@10": h["valid"]["ndcg@10"]}
                    for h in history
                    if "valid" in h and "ndcg@10" in h["valid"]
                ],
                "valid ndcg@10",
            )
            if x:
                ax.plot(x, y, label="valid ndcg@10", linewidth=1.2, linestyle="--")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=8)
    pretrain = [h["epoch"] for h in history if h.get("phase", "adversarial") != "adversarial"]
    if pretrain:
        for ax in panels:
            ax.axvspan(min(pretrain) - 0.5, max(pretrain) + 0.5, color="0.9", zorder=0)
    if title:
        fig.suptitle(title, fontsize=10)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
