"""APR end to end through train_run and the config: wiring, exact resume, readable config errors."""

import json

import pytest
import torch

from advrec.errors import AdvrecError, ConfigError
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.adversaries.apr import APRHook
from advrec.train.checkpoint import load_checkpoint

SMALL = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
    "model": {"dim": 8},
    "train": {"epochs": 5, "batch_size": 256, "patience": 50, "l2": 1e-4, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit"]},
    "adversary": {"name": "apr", "eps": 0.1, "reg_adv": 1.0, "start_epoch": 2, "eps_ramp_epochs": 2},
}


def _config(**adversary):
    raw = json.loads(json.dumps(SMALL))
    raw["adversary"].update(adversary)
    return parse_config(raw)


@pytest.mark.parametrize(("method", "crash_epoch"), [("fgsm", 3), ("random", 1), ("pgd", 4)])
def test_killed_and_resumed_apr_run_matches_uninterrupted(tmp_path, method, crash_at, crash_epoch):
    cfg = _config(method=method, pgd_steps=2)
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(crash_epoch)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    full_log = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    part_log = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [x["loss"] for x in full_log] == [x["loss"] for x in part_log]
    assert [x.get("adv_loss") for x in full_log] == [x.get("adv_loss") for x in part_log]
    # Pre-training epochs carry no adversary and are never selected; the ramp reaches full eps.
    assert [x.get("adv_eps") for x in full_log] == pytest.approx([None, None, 0.05, 0.1, 0.1])
    assert full["best_epoch"] >= 2


def test_plateau_started_apr_resumes_exactly(tmp_path, crash_at):
    cfg = _config(start_epoch=0, eps_ramp_epochs=0, start_after_plateau=1)
    cfg = cfg.model_copy(
        update={
            "train": cfg.train.model_copy(
                update={"epochs": 8, "optimizer": cfg.train.optimizer.model_copy(update={"lr": 0.05})}
            )
        }
    )
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    log = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    starts = [x["adv_starts_at"] for x in log if "adv_starts_at" in x]
    assert len(starts) == 1, "the adversary must switch on exactly once within 8 epochs"
    assert [("adv_eps" in x) for x in log] == [x["epoch"] >= starts[0] for x in log]
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(starts[0])], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"] >= starts[0]


def test_min_adv_epochs_keeps_early_adversarial_epochs_out_of_selection(tmp_path):
    # adversary on from epoch 1; with min_adv_epochs 4 only epochs 5, 6, 7 may be selected, so the best
    # epoch must be the first argmax of valid NDCG@10 over those, read from the run's own log
    def run(name, **adversary):
        cfg = _config(start_epoch=1, eps_ramp_epochs=0, **adversary)
        train = cfg.train.model_copy(
            update={"epochs": 8, "optimizer": cfg.train.optimizer.model_copy(update={"lr": 0.05})}
        )
        result = train_run(cfg.model_copy(update={"train": train}), tmp_path / name, show_progress=False)
        log = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return result, log

    def first_argmax(log, first):
        values = {x["epoch"]: x["valid"]["ndcg@10"] for x in log if x["epoch"] >= first}
        return max(values, key=lambda e: (values[e], -e))

    free, free_log = run("free")
    held, held_log = run("held", min_adv_epochs=4)
    assert free["best_epoch"] == first_argmax(free_log, 1)
    assert held["best_epoch"] == first_argmax(held_log, 5)
    # the option changes selection only, never the training itself
    assert [x["loss"] for x in held_log] == [x["loss"] for x in free_log]


def test_apr_changes_training_and_none_is_the_plain_run(tmp_path):
    apr = train_run(_config(start_epoch=0, eps_ramp_epochs=0), tmp_path / "apr", show_progress=False)
    raw = json.loads(json.dumps(SMALL))
    raw["adversary"] = {"name": "none"}
    plain = train_run(parse_config(raw), tmp_path / "plain", show_progress=False)
    raw = json.loads(json.dumps(SMALL))
    del raw["adversary"]
    default = train_run(parse_config(raw), tmp_path / "default", show_progress=False)
    assert plain["test"] == default["test"]
    assert apr["test"] != plain["test"]


def test_config_errors_name_the_key_and_the_valid_values(adversary_of):
    with pytest.raises(ConfigError, match="unknown key 'adversary.epsilon'.*eps_mode"):
        _config(epsilon=0.5)
    with pytest.raises(ConfigError, match="adversary.method: unknown method 'fgm'; valid: .*fgsm"):
        _config(method="fgm")
    with pytest.raises(ConfigError, match="adversary.eps"):
        _config(eps=-1)
    with pytest.raises(ConfigError, match="adversary: unknown adversary 'gan'; valid: apr, none"):
        _config(name="gan")
    objective = build_objective("bpr", 0.0)
    with pytest.raises(ConfigError, match="never switch on"):
        adversary_of(_config(start_epoch=5), objective)
    with pytest.raises(ConfigError, match="adversary.min_adv_epochs.*no epoch could be selected"):
        adversary_of(_config(start_epoch=2, min_adv_epochs=3), objective)
    with pytest.raises(ConfigError, match="adversary.min_adv_epochs"):
        _config(min_adv_epochs=-1)
    with pytest.raises(ConfigError, match="adversary: universal_step: works with method fgsm only"):
        _config(method="pgd", universal_step=0.5)
    with pytest.raises(ConfigError, match="adversary.universal_step"):
        _config(universal_step=1.5)
    assert adversary_of(_config(universal_step=0.5), objective)[0].universal_step == 0.5
    with pytest.raises(ConfigError, match="adversary: random_start: applies to method fgsm or pgd"):
        _config(method="fgsm_sign", random_start=True)
    with pytest.raises(ConfigError, match="adversary: random_start: not with universal_step"):
        _config(random_start=True, universal_step=0.5)
    with pytest.raises(ConfigError, match="adversary.targets: 'embedding' is not a table of this model"):
        adversary_of(_config(targets=["embedding"]), objective)
    assert adversary_of(_config(method="pgd", random_start=True), objective)[0].builder.random_start
    hooks = adversary_of(_config(method="pgd", pgd_steps=4), objective)
    assert len(hooks) == 1 and isinstance(hooks[0], APRHook)
    assert hooks[0].builder.method == "pgd" and hooks[0].builder.pgd_steps == 4


def test_example_config_parses():
    from pathlib import Path

    from advrec.runs.config import load_config

    path = Path(__file__).parents[2] / "examples" / "adversarial" / "ml100k_apr_mf.yaml"
    config = load_config(path)
    assert config.adversary.name == "apr" and config.adversary.start_epoch < config.train.epochs


def test_a_run_that_ends_before_any_selectable_epoch_says_so(tmp_path):
    # the adversary waits for a 10-evaluation plateau that 5 epochs cannot reach: no epoch may be selected,
    # and testing the last (plain) model as if it had been selected would be a silent wrong answer
    cfg = _config(start_epoch=0, start_after_plateau=10)
    with pytest.raises(
        AdvrecError, match=r"train.epochs = 5: the run ended before any epoch could be selected"
    ):
        train_run(cfg, tmp_path / "run", show_progress=False)
