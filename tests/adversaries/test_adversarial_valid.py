"""`eval.adversarial_valid`: every epoch's valid metrics also under the probe's FGSM move (`adv_*`), and
selection on them (robust early stopping). The per-epoch figures must be the valid probe's figures for the
same model, and the kept epoch the best one under attack."""

import json
import sys
from pathlib import Path

import pytest

from advrec.errors import ConfigError
from advrec.runs.config import parse_config
from advrec.runs.probe import robustness_run
from advrec.runs.train import train_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sequential"))
from test_sequential_run import _config as walk_config  # noqa: E402

MF = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 100, "n_items": 120, "interactions_per_user": 15}},
    "model": {"dim": 16},
    "train": {"epochs": 6, "batch_size": 256, "patience": 50, "optimizer": {"lr": 0.02}},
    "eval": {
        "ks": [5, 10],
        "metrics": ["ndcg", "hit"],
        "select_metric": "adv_ndcg@10",
        "adversarial_valid": {"eps": 0.5, "eps_mode": "relative"},
    },
}


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _check_run(run_dir: Path, results: dict) -> None:
    log = _log(run_dir)
    for line in log:  # every metric twice: clean and under attack (a general model has one masking)
        clean = {k for k in line["valid"] if not k.startswith("adv_")}
        assert {k for k in line["valid"] if k.startswith("adv_")} == {f"adv_{k}" for k in clean}
    # the kept epoch is the first best one under attack, not the best clean one
    scores = [line["valid"]["adv_ndcg@10"] for line in log]
    assert results["best_epoch"] == log[scores.index(max(scores))]["epoch"]
    # its figures are what the valid probe measures on the kept model at the same eps
    probe = robustness_run(run_dir, [0.5], attack="fgsm", eps_mode="relative", split="valid")
    best = results["valid"]
    assert probe["clean"]["ndcg@10"] == pytest.approx(best["ndcg@10"], rel=1e-5)
    assert probe["fgsm"]["0.5"]["ndcg@10"] == pytest.approx(best["adv_ndcg@10"], rel=1e-5)
    assert probe["fgsm"]["0.5"]["hit@10"] == pytest.approx(best["adv_hit@10"], rel=1e-5)


def test_mf_selects_the_epoch_best_under_attack(tmp_path):
    results = train_run(parse_config(MF), tmp_path / "run", show_progress=False)
    _check_run(tmp_path / "run", results)
    log = _log(tmp_path / "run")
    # the attack is real: it lowers valid NDCG@10 at every epoch once the model has learnt something
    assert all(line["valid"]["adv_ndcg@10"] < line["valid"]["ndcg@10"] for line in log[2:])


def test_sasrec_selects_the_epoch_best_under_attack(tmp_path):
    eval_cfg = {
        "ks": [1, 10],
        "metrics": ["ndcg", "hit"],
        "select_metric": "adv_ndcg@10",
        "adversarial_valid": {"eps": 0.5, "targets": ["item_input"]},
    }
    raw = walk_config(tmp_path, eval=eval_cfg, train={"epochs": 6})
    results = train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    log = _log(tmp_path / "run")
    scores = [line["valid"]["adv_ndcg@10"] for line in log]
    assert results["best_epoch"] == log[scores.index(max(scores))]["epoch"]
    probe = robustness_run(
        tmp_path / "run", [0.5], eps_mode="relative", split="valid", targets=["item_input"]
    )
    assert probe["fgsm"]["0.5"]["ndcg@10"] == pytest.approx(results["valid"]["adv_ndcg@10"], rel=1e-5)
    assert probe["clean"]["ndcg@10"] == pytest.approx(results["valid"]["ndcg@10"], rel=1e-5)
    # the other masking under attack is kept too (the clean log has only the configured one)
    assert probe["fgsm"]["0.5"]["masked_ndcg@10"] == pytest.approx(
        results["valid"]["adv_masked_ndcg@10"], rel=1e-5
    )
    assert "masked_ndcg@10" not in results["valid"]


def test_pgd_figures_are_the_pgd_probe_s(tmp_path):
    raw = json.loads(json.dumps(MF))
    raw["eval"]["adversarial_valid"] = {"eps": 0.5, "attack": "pgd", "pgd_steps": 3}
    raw["train"]["epochs"] = 3
    results = train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    probe = robustness_run(
        tmp_path / "run", [0.5], attack="pgd", pgd_steps=3, eps_mode="relative", split="valid"
    )
    assert probe["pgd"]["0.5"]["ndcg@10"] == pytest.approx(results["valid"]["adv_ndcg@10"], rel=1e-5)
    fgsm = robustness_run(tmp_path / "run", [0.5], attack="fgsm", eps_mode="relative", split="valid")
    assert fgsm["fgsm"]["0.5"]["ndcg@10"] != pytest.approx(results["valid"]["adv_ndcg@10"], rel=1e-5)


def test_selecting_under_attack_needs_the_attack():
    raw = json.loads(json.dumps(MF))
    del raw["eval"]["adversarial_valid"]
    with pytest.raises(ConfigError, match="eval.adversarial_valid"):
        parse_config(raw)


@pytest.mark.parametrize(
    ("setting", "message"),
    [({"eps": 0.0}, "eps"), ({"eps": 0.5, "eps_mode": "sideways"}, "eps_mode"), ({}, "eps")],
)
def test_bad_settings_name_the_key(setting, message):
    raw = json.loads(json.dumps(MF))
    raw["eval"]["adversarial_valid"] = setting
    with pytest.raises(ConfigError, match=f"adversarial_valid.*{message}|{message}.*adversarial_valid"):
        parse_config(raw)


def test_unknown_table_names_the_key(tmp_path):
    raw = json.loads(json.dumps(MF))
    raw["eval"]["adversarial_valid"]["targets"] = ["item_output"]
    with pytest.raises(ConfigError, match="eval.adversarial_valid.targets"):
        train_run(parse_config(raw), tmp_path / "run", show_progress=False)
