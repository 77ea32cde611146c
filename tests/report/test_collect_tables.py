"""Collecting run folders and the tables, checked against hand-computed values."""

import json
import math

import numpy as np
import pytest
from report_helpers import robustness_entry, write_run
from scipy import stats

from advrec.errors import AdvrecError, DataError
from advrec.report.collect import find_runs, group_runs
from advrec.report.tables import detection_table, leaderboard, poisoning_table, robustness_table, significance


def test_groups_by_config_up_to_seed(tmp_path):
    for seed, v in zip((1, 2, 3), (0.20, 0.22, 0.24)):
        write_run(tmp_path / f"mf{seed}", seed=seed, test={"ndcg@10": v})
        write_run(tmp_path / f"apr{seed}", adversary="apr", seed=seed, test={"ndcg@10": v + 0.03})
    groups = group_runs(find_runs(tmp_path))
    assert sorted(groups) == ["mf", "mf+apr(fgsm)"]
    assert sorted(r.seed for r in groups["mf"]) == [1, 2, 3]


def test_same_short_name_different_configs_get_folder_names(tmp_path):
    write_run(tmp_path / "a", test={"ndcg@10": 0.1})
    b = write_run(tmp_path / "b", test={"ndcg@10": 0.2})
    config = (b / "config.yaml").read_text().replace("fgsm", "pgd")  # same labels, another config
    (b / "config.yaml").write_text(config)
    assert sorted(group_runs(find_runs(tmp_path))) == ["mf [a]", "mf [b]"]


def test_study_index_labels_and_orders(tmp_path):
    write_run(tmp_path / "z" / "seed1", test={"ndcg@10": 0.1})
    write_run(tmp_path / "a" / "seed1", adversary="apr", test={"ndcg@10": 0.2})
    index = {"cells": {"z/seed1": {"label": "first", "seed": 1}, "a/seed1": {"label": "second", "seed": 1}}}
    (tmp_path / "study.json").write_text(json.dumps(index))
    assert list(group_runs(find_runs(tmp_path))) == ["first", "second"]


def test_bad_folders_raise(tmp_path):
    with pytest.raises(AdvrecError, match="no run folder"):
        find_runs(tmp_path)
    with pytest.raises(AdvrecError, match="not a folder"):
        find_runs(tmp_path / "missing")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text("{\n  oops")
    with pytest.raises(DataError, match=r"results.json:2"):
        find_runs(tmp_path)


def test_torn_last_metrics_line_is_ignored(tmp_path):
    run = write_run(tmp_path / "r")
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"epoch": 3, "lo')
    assert len(find_runs(tmp_path)[0].history) == 3


def test_leaderboard_mean_std_over_seeds(tmp_path):
    for seed, v in zip((1, 2, 3), (0.20, 0.22, 0.27)):
        write_run(tmp_path / f"mf{seed}", seed=seed, test={"ndcg@10": v})
    write_run(tmp_path / "apr1", adversary="apr", test={"ndcg@10": 0.3})
    board = leaderboard(group_runs(find_runs(tmp_path)))
    mf = board[board.system == "mf"].iloc[0]
    assert mf["mean"] == pytest.approx(0.23)
    # sample std: deviations -0.03, -0.01, 0.04 -> sqrt((9 + 1 + 16) e-4 / 2)
    assert mf["std"] == pytest.approx(math.sqrt(13e-4))
    assert mf["n"] == 3
    apr = board[board.system == "mf+apr(fgsm)"].iloc[0]
    assert math.isnan(apr["std"])  # one seed
    assert board.system.iloc[0] == "mf+apr(fgsm)"  # sorted by ndcg@10, best first


def test_significance_over_seeds_matches_scipy(tmp_path):
    base, other = [0.20, 0.22, 0.27, 0.21], [0.24, 0.23, 0.30, 0.26]
    for seed, (b, o) in enumerate(zip(base, other)):
        write_run(tmp_path / f"mf{seed}", seed=seed, test={"ndcg@10": b})
        write_run(tmp_path / f"apr{seed}", adversary="apr", seed=seed, test={"ndcg@10": o})
    sig = significance(group_runs(find_runs(tmp_path)), "mf", "auto")
    row = sig.iloc[0]
    assert (row.system, row.paired_by, row.n) == ("mf+apr(fgsm)", "seeds", 4)
    assert row.p_t == pytest.approx(stats.ttest_rel(other, base).pvalue)
    assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(other, base).pvalue)
    assert row.mean_diff == pytest.approx(np.mean(np.subtract(other, base)))


def test_significance_over_users_pairs_by_user_id(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 20)
    other = base + rng.normal(0.05, 0.05, 20)
    users = [f"u{i}" for i in range(20)]
    # the other system lists its users in reverse order: pairing must follow ids, not rows
    write_run(tmp_path / "mf", per_user={"user": users, "ndcg@10": list(base)})
    write_run(tmp_path / "apr", adversary="apr", per_user={"user": users[::-1], "ndcg@10": list(other[::-1])})
    sig = significance(group_runs(find_runs(tmp_path)), "mf", "auto", metrics=["ndcg@10"])
    row = sig.iloc[0]
    assert (row.paired_by, row.n) == ("users", 20)
    assert row.p_t == pytest.approx(stats.ttest_rel(other, base).pvalue)
    assert row.significant_t == (row.p_t < 0.05)


def test_significance_without_per_user_says_why(tmp_path):
    write_run(tmp_path / "mf")
    write_run(tmp_path / "apr", adversary="apr")
    row = significance(group_runs(find_runs(tmp_path)), "mf", "users", metrics=["ndcg@10"]).iloc[0]
    assert math.isnan(row.p_t) and "per_user_test.csv" in row.reason


def test_robustness_poisoning_detection_tables(tmp_path):
    write_run(tmp_path / "mf1", seed=1, extra={"robustness": robustness_entry(0.2, {"0.5": 0.1, "1.0": 0.3})})
    write_run(tmp_path / "mf2", seed=2, extra={"robustness": robustness_entry(0.3, {"0.5": 0.2, "1.0": 0.4})})
    rob = robustness_table(group_runs(find_runs(tmp_path)), metrics=("ndcg@10",))
    row = rob[rob.eps == "0.5"].iloc[0]
    assert row.clean == pytest.approx(0.25)
    assert row.perturbed == pytest.approx((0.2 * 0.9 + 0.3 * 0.8) / 2)
    assert row["drop"] == pytest.approx(0.15)
    assert row.random_drop == pytest.approx(0.15 / 4)
    assert list(rob.eps) == ["0.5", "1.0"]

    poisoning = {
        "attack": "bandwagon",
        "targets": [1, 2],
        "before": {"target_hit@50": 0.01, "ndcg@10": 0.3},
        "after": {"target_hit@50": 0.05, "ndcg@10": 0.29},
        "defended": {"target_hit@50": 0.02, "ndcg@10": 0.295},
    }
    detection = {"rules": {"precision": 0.8, "recall": 0.6, "f1": 0.6857, "auc": 0.9}, "pca": {"f1": 0.5}}
    write_run(tmp_path / "att", adversary="apr", extra={"poisoning": poisoning, "detection": detection})
    groups = group_runs(find_runs(tmp_path))
    poison = poisoning_table(groups)
    after = poison[(poison.stage == "after") & (poison.metric == "target_hit@50")].iloc[0]
    assert (after.attack, after["mean"]) == ("bandwagon", 0.05)
    assert set(poison.stage) == {"before", "after", "defended"}
    det = detection_table(groups).set_index("detector")
    assert det.loc["rules", "recall"] == 0.6
    assert math.isnan(det.loc["pca", "auc"])
