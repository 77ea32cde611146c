"""What ``advrec detect`` writes: results.json's ``detection`` entry, per-user scores CSV, ROC/PR curves PNG.
Every file is written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from advrec.defend.evaluate import DetectionResult
from advrec.measure.detection import pr_curve, roc_curve
from advrec.utils.files import atomic_write, atomic_write_text, update_json_object

RESULTS = "results.json"
SCORES = "detection_scores.csv"
CURVES = "detection_curves.png"


def write_results(out: Path, detection: dict, settings: dict) -> Path:
    """Merge ``detection`` and ``detection_settings`` into ``out/results.json`` (other keys kept)."""
    path = out / RESULTS
    update_json_object(path, {"detection": detection, "detection_settings": settings})
    return path


def write_scores(
    out: Path, user_ids: np.ndarray, labels: np.ndarray, results: dict[str, DetectionResult]
) -> Path:
    """One row per user: id, label, then each detector's score and flag (0/1)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(results)
    writer.writerow(["user", "label"] + [f"{n}_{what}" for n in names for what in ("score", "flag")])
    columns = [user_ids.tolist(), labels.tolist()]
    for name in names:
        columns.append([repr(float(s)) for s in results[name].scores])
        columns.append(results[name].flags.astype(int).tolist())
    writer.writerows(zip(*columns))
    path = out / SCORES
    atomic_write_text(path, buffer.getvalue())
    return path


def plot_curves(out: Path, labels: np.ndarray, results: dict[str, DetectionResult], title: str = "") -> Path:
    """ROC (left) and precision-recall (right) of every detector's scores; Agg canvas, no pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    roc_ax, pr_ax = fig.subplots(1, 2)
    for name, result in results.items():
        fpr, tpr = roc_curve(result.scores, labels)
        auc = result.metrics["auc"]
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})" if auc is not None else name)
        recall, precision = pr_curve(result.scores, labels)
        pr_ax.plot(recall, precision, label=f"{name} (F1 {result.metrics['f1']:.3f} at its flags)")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(
        xlabel="false-positive rate", ylabel="true-positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01)
    )
    pr_ax.axhline(float(np.mean(labels)), color="grey", linestyle=":", linewidth=1)
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    path = out / CURVES
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path
