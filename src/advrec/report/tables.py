"""The report's tables as pandas DataFrames (long or wide), computed from grouped run records.

Means and standard deviations are over seeds (std with ddof=1; NaN with one seed). Significance compares
each system with the baseline, paired by seed or by user (see ``advrec.measure.significance``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from advrec.measure.significance import paired_tests
from advrec.report.collect import RunRecord
from advrec.report.per_user import read_per_user

PairedBy = Literal["auto", "seeds", "users"]
MIN_SEEDS_FOR_SEED_PAIRING = 3  # with fewer, "auto" pairs by user: a t-test on 2 seeds has 1 d.o.f.
ALPHA = 0.05


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else float("nan")


def test_metric_names(groups: dict[str, list[RunRecord]]) -> list[str]:
    """Test metrics in the order the first run lists them (those any run has)."""
    names: list[str] = []
    for runs in groups.values():
        for run in runs:
            for key, value in (run.results.get("test") or {}).items():
                if key not in names and isinstance(value, (int, float)):
                    names.append(key)
    return names


def leaderboard(groups: dict[str, list[RunRecord]], sort_by: str = "ndcg@10") -> pd.DataFrame:
    """Long table: system, metric, mean, std, n (seeds); systems ordered by ``sort_by`` (descending)."""
    rows = []
    for label, runs in groups.items():
        for metric in test_metric_names(groups):
            found = [(r.results.get("test") or {}).get(metric) for r in runs]
            values = [float(v) for v in found if isinstance(v, (int, float))]
            mean, std = _mean_std(values)
            rows.append({"system": label, "metric": metric, "mean": mean, "std": std, "n": len(values)})
    frame = pd.DataFrame(rows, columns=["system", "metric", "mean", "std", "n"])
    if frame.empty:
        return frame
    key = frame[frame.metric == sort_by].set_index("system")["mean"]
    order = {s: i for i, s in enumerate(key.sort_values(ascending=False, na_position="last").index)}
    frame["_order"] = frame.system.map(lambda s: order.get(s, len(order)))
    return frame.sort_values(["_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def _by_seed(runs: list[RunRecord], metric: str) -> dict[int, float]:
    out = {}
    for run in runs:
        value = (run.results.get("test") or {}).get(metric)
        if run.seed is not None and isinstance(value, (int, float)):
            out[run.seed] = float(value)
    return out


def _user_means(runs: list[RunRecord], seeds: list[int], metric: str) -> pd.Series | None:
    """Each user's metric averaged over ``seeds`` (users present in every seed), or None."""
    columns = []
    for run in runs:
        if run.seed not in seeds:
            continue
        table = read_per_user(run.path)
        if table is None or metric not in table.columns:
            return None
        columns.append(table[metric].rename(run.seed))
    if not columns:
        return None
    return pd.concat(columns, axis=1, join="inner").mean(axis=1)


def significance(
    groups: dict[str, list[RunRecord]],
    baseline: str,
    paired_by: PairedBy = "auto",
    metrics: list[str] | None = None,
    ensure_per_user: Callable[[RunRecord], bool] | None = None,
) -> pd.DataFrame:
    """One row per (system != baseline, metric): the pairing used, n pairs, mean difference (system -
    baseline), t statistic and p-value, Wilcoxon statistic and p-value, and ``reason`` when a test could
    not run. ``ensure_per_user(run)`` may write a run's missing per-user file (returns success)."""
    base_runs = groups[baseline]
    rows: list[dict[str, Any]] = []
    for label, runs in groups.items():
        if label == baseline:
            continue
        for metric in metrics or test_metric_names(groups):
            a, b = _by_seed(runs, metric), _by_seed(base_runs, metric)
            common = sorted(set(a) & set(b))
            mode = paired_by
            if mode == "auto":
                mode = "seeds" if len(common) >= MIN_SEEDS_FOR_SEED_PAIRING else "users"
            row: dict[str, Any] = {"system": label, "baseline": baseline, "metric": metric, "paired_by": mode}
            if mode == "seeds":
                xs, ys = [a[s] for s in common], [b[s] for s in common]
                reason = "" if common else "no seed in common with the baseline"
            else:
                xs, ys, reason = _user_pairs(runs, base_runs, common, metric, ensure_per_user)
            tests = paired_tests(xs, ys)
            row.update(
                n=tests["t"].n,
                mean_diff=tests["t"].mean_diff,
                t=tests["t"].statistic,
                p_t=tests["t"].pvalue,
                wilcoxon=tests["wilcoxon"].statistic,
                p_wilcoxon=tests["wilcoxon"].pvalue,
                significant_t=tests["t"].significant(ALPHA),
                significant_wilcoxon=tests["wilcoxon"].significant(ALPHA),
                reason=reason or tests["t"].reason or tests["wilcoxon"].reason,
            )
            rows.append(row)
    return pd.DataFrame(rows)


def _user_pairs(
    runs: list[RunRecord],
    base_runs: list[RunRecord],
    common: list[int],
    metric: str,
    ensure: Callable[[RunRecord], bool] | None,
) -> tuple[list[float], list[float], str]:
    if not common:
        return [], [], "no seed in common with the baseline"
    if ensure is not None:
        for run in [*runs, *base_runs]:
            if run.seed in common and read_per_user(run.path) is None:
                ensure(run)
    x, y = _user_means(runs, common, metric), _user_means(base_runs, common, metric)
    if x is None or y is None:
        return [], [], "no per-user test metrics (per_user_test.csv) in the run folders"
    both = pd.concat([x.rename("a"), y.rename("b")], axis=1, join="inner")
    return both["a"].tolist(), both["b"].tolist(), ""


def _pick(source: list[Any], eps: str, key: str) -> list[float]:
    """``key`` at ``eps`` in each of the entries ``source`` (curves keyed by ε), where numeric."""
    vals = [((s or {}).get(eps) or {}).get(key) for s in source]
    return [float(v) for v in vals if isinstance(v, (int, float))]


def robustness_table(groups: dict[str, list[RunRecord]], metrics: tuple[str, ...] = ("ndcg@10", "recall@10")):
    """Long table: system, attack, eps, metric, clean, perturbed (mean, std over seeds), drop, random
    control, n. The ε keys are those of ``results.json`` (as probed)."""
    rows = []
    for label, runs in groups.items():
        entries = [r.results["robustness"] for r in runs if isinstance(r.results.get("robustness"), dict)]
        if not entries:
            continue
        attacks = sorted({a for e in entries for a in e if a not in ("clean", "random", "settings")})
        for attack in attacks:
            eps_keys = sorted({k for e in entries for k in (e.get(attack) or {})}, key=float)
            for eps in eps_keys:
                for metric in metrics:
                    clean = [e.get("clean", {}).get(metric) for e in entries if attack in e]
                    clean = [float(v) for v in clean if isinstance(v, (int, float))]
                    pert = _pick([e.get(attack) for e in entries], eps, metric)
                    if not pert:
                        continue
                    drop = _pick([e.get(attack) for e in entries], eps, f"{metric}_drop")
                    rand_src = [(e.get("random") or {}).get(attack) for e in entries]
                    rand, rand_drop = _pick(rand_src, eps, metric), _pick(rand_src, eps, f"{metric}_drop")
                    pm, ps = _mean_std(pert)
                    rows.append(
                        {
                            "system": label,
                            "attack": attack,
                            "eps": eps,
                            "metric": metric,
                            "clean": _mean_std(clean)[0],
                            "perturbed": pm,
                            "perturbed_std": ps,
                            "drop": _mean_std(drop)[0],
                            "random": _mean_std(rand)[0],
                            "random_drop": _mean_std(rand_drop)[0],
                            "n": len(pert),
                        }
                    )
    return pd.DataFrame(rows)


def poisoning_table(groups: dict[str, list[RunRecord]]) -> pd.DataFrame:
    """Long table from ``results.json``'s ``poisoning`` entries: system, attack, stage (before, after,
    defended), metric, mean, std, n. Unknown extra keys are ignored; non-numeric values skipped."""
    cells: dict[tuple[str, str, str, str], list[float]] = {}
    for label, runs in groups.items():
        for run in runs:
            entry = run.results.get("poisoning")
            if not isinstance(entry, dict):
                continue
            attack = str(entry.get("attack", "attack"))
            defence = entry.get("defence")
            if defence:
                attack += f" / {defence}"
            for stage in ("before", "after", "defended"):
                for metric, value in (entry.get(stage) or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        cells.setdefault((label, attack, stage, metric), []).append(float(value))
    rows = []
    for (label, attack, stage, metric), values in cells.items():
        mean, std = _mean_std(values)
        rows.append(
            {
                "system": label,
                "attack": attack,
                "stage": stage,
                "metric": metric,
                "mean": mean,
                "std": std,
                "n": len(values),
            }
        )
    return pd.DataFrame(rows)


def detection_table(groups: dict[str, list[RunRecord]]) -> pd.DataFrame:
    """Long table from ``results.json``'s ``detection``: system, detector, precision, recall, f1, auc
    (means over runs; a missing value is NaN), n."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for label, runs in groups.items():
        for run in runs:
            entry = run.results.get("detection")
            if not isinstance(entry, dict):
                continue
            for detector, values in entry.items():
                if isinstance(values, dict):
                    cells.setdefault((label, str(detector)), []).append(values)
    rows = []
    for (label, detector), entries in cells.items():
        row: dict[str, Any] = {"system": label, "detector": detector}
        for key in ("precision", "recall", "f1", "auc"):
            vals = [e.get(key) for e in entries]
            row[key] = _mean_std([float(v) for v in vals if isinstance(v, (int, float))])[0]
        row["n"] = len(entries)
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean_std(mean: float, std: float, digits: int = 4) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"
