"""The robustness probe on a trained tiny MF: adversarial drops beat the random control; CLI output."""

import json

import pytest

from advrec.cli import main
from advrec.config import parse_config
from advrec.experiment import robustness_run, train_run

CONFIG = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 100, "n_items": 120, "interactions_per_user": 15}},
    "model": {"dim": 16},
    "train": {"epochs": 6, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.02}},
    "eval": {"ks": [5, 10]},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe") / "run"
    train_run(parse_config(CONFIG), folder, show_progress=False)
    return folder


@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_fgsm_drops_more_than_the_same_norm_random_control(run_dir, eps_mode):
    result = robustness_run(run_dir, [0.25, 0.5], attack="fgsm", eps_mode=eps_mode)
    assert set(result) == {"clean", "fgsm", "random", "settings"}
    assert list(result["fgsm"]) == ["0.25", "0.5"]
    assert result["clean"]["ndcg@10"] > 0.05
    for eps in ("0.25", "0.5"):
        adv, rand = result["fgsm"][eps], result["random"][eps]
        assert set(adv) == set(rand) == {k for m in result["clean"] for k in (m, f"{m}_drop")}
        for metric in ("ndcg@10", "auc"):
            assert adv[f"{metric}_drop"] > rand[f"{metric}_drop"], (eps, metric)
            clean = result["clean"][metric]
            assert adv[f"{metric}_drop"] == pytest.approx((clean - adv[metric]) / clean)
    assert result["fgsm"]["0.5"]["ndcg@10_drop"] > result["fgsm"]["0.25"]["ndcg@10_drop"] > 0.02
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["robustness"] == json.loads(json.dumps(result))
    assert "test" in saved and "best_epoch" in saved  # merged, not overwritten


def test_zero_eps_changes_nothing(run_dir):
    result = robustness_run(run_dir, [0.0], attack="pgd", pgd_steps=2)
    assert result["pgd"]["0.0"]["ndcg@10"] == result["clean"]["ndcg@10"]
    assert result["pgd"]["0.0"]["ndcg@10_drop"] == 0.0


def test_cli_attack_writes_results_and_csv(run_dir, capsys):
    code = main(["evaluate", str(run_dir), "--attack", "pgd", "--eps", "0.1,0.5", "--pgd-steps", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "robustness (pgd" in out and "random 0.5" in out
    robustness = json.loads((run_dir / "results.json").read_text())["robustness"]
    assert set(robustness) == {"clean", "pgd", "random", "settings"}
    assert robustness["settings"]["pgd_steps"] == 2
    lines = (run_dir / "robustness.csv").read_text().splitlines()
    assert lines[0] == "method,eps,metric,clean,perturbed,drop"
    assert len(lines) == 1 + 2 * 2 * len(robustness["clean"])
    assert lines[1].startswith("pgd,0.1,")


def test_cli_rejects_bad_eps(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--attack", "fgsm", "--eps", "0.1,big"]) == 2
    assert "--eps" in capsys.readouterr().err
