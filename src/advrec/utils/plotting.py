"""Figures drawn without pyplot: matplotlib is imported inside the functions (importing advrec does no
plotting work) and drawn through its Agg canvas on a bare ``Figure``: no global backend switch, nothing left
open. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from advrec.utils.files import atomic_write


def new_figure(n_rows: int, n_cols: int, width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path
