"""`adversary.full_data_every`: APR against the robustness probe's own Δ (the gradient of the whole training
objective, eval mode), rebuilt every N batches and held in between; checkpointed; readable config errors."""

import json
import sys
from pathlib import Path

import pytest
import torch

from advrec.errors import ConfigError
from advrec.measure.robustness import training_batches
from advrec.models.registry import MODELS, build_model
from advrec.objectives.pairwise import build_objective
from advrec.objectives.sequential import SequentialObjective, probe_batches
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.gradients import full_data_gradient_fn
from advrec.runs.config import parse_config
from advrec.runs.load import load_run
from advrec.runs.train import train_run
from advrec.train.adversaries.apr import APRHook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sequential"))
from test_sequential_run import _config as walk_config  # noqa: E402


def _hook(every: int, method: str = "fgsm"):
    objective = build_objective("bpr", 0.0)
    builder = PerturbationBuilder(
        method, 0.5, "relative", pgd_steps=2, generator=torch.Generator().manual_seed(0)
    )
    return objective, builder, APRHook(objective, builder, 1.0, full_data_every=every)


def _probe_delta(model, objective, builder, batches, eps=0.5):
    """The robustness probe's Δ at the current Θ (eval mode, as the probe runs it)."""
    tables = {k: t.detach() for k, t in model.embedding_tables().items()}
    return builder(tables, full_data_gradient_fn(model, objective, batches), eps)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_delta_is_the_probes_held_for_n_batches_then_rebuilt(method, train, batch):
    cfg = MODELS.validate({"name": "neumf", "dim": 8, "mlp_layers": [8, 4], "dropout": 0.5})
    model = build_model(cfg, train, torch.Generator().manual_seed(0)).train()
    # dropout on while training: the Δ must still be the eval-mode (probe's) one
    objective, builder, hook = _hook(every=2, method=method)
    batches = training_batches(train, seed=3, batch_size=64, device=torch.device("cpu"))
    hook.use_full_data(batches)

    first = hook.adversarial_deltas(model, batch, 0.5)
    assert model.training  # the hook put the model back in training mode
    expected = _probe_delta(model.eval(), objective, builder, batches)
    model.train()
    assert set(first) == set(expected) and all(torch.allclose(first[k], expected[k]) for k in first)

    with torch.no_grad():  # a training step moves Θ; the Δ is held until N batches have used it
        for p in model.parameters():
            p.mul_(1.3)
    second = hook.adversarial_deltas(model, batch, 0.5)
    assert all(torch.equal(second[k], first[k]) for k in first)
    third = hook.adversarial_deltas(model, batch, 0.5)  # batch N + 1: rebuilt at the new Θ
    rebuilt = _probe_delta(model.eval(), objective, builder, batches)
    model.train()
    assert all(torch.allclose(third[k], rebuilt[k]) for k in third)
    assert not torch.allclose(third["gmf_item"], first["gmf_item"])

    # checkpointed: a fresh hook loaded from the state holds the same Δ for the same remaining batches
    _, _, fresh = _hook(every=2, method=method)
    fresh.use_full_data(batches)
    fresh.load_state_dict(hook.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.9)
    a, b = hook.adversarial_deltas(model, batch, 0.5), fresh.adversarial_deltas(model, batch, 0.5)
    assert all(torch.equal(a[k], third[k]) and torch.equal(b[k], third[k]) for k in a)  # held: 2nd batch
    a, b = hook.adversarial_deltas(model, batch, 0.5), fresh.adversarial_deltas(model, batch, 0.5)
    assert all(torch.equal(a[k], b[k]) for k in a)  # both rebuilt at the same Θ
    assert not torch.equal(a["gmf_item"], third["gmf_item"])
    # a new ε (a ramp) rebuilds at once
    small = hook.adversarial_deltas(model, batch, 0.1)
    assert float(small["gmf_item"].norm()) < float(third["gmf_item"].norm())


def test_full_data_delta_raises_the_whole_loss_more_than_a_batch_delta(make_model, train, batch):
    """What it is for: the threat the probe measures is one Δ for all the data; a per-batch Δ of the same
    size is aimed at one batch and raises the whole objective less."""
    model = make_model("mf")
    objective, builder, hook = _hook(every=100)
    batches = training_batches(train, seed=3, batch_size=64, device=torch.device("cpu"))
    hook.use_full_data(batches)
    full = hook.adversarial_deltas(model, batch, 0.5)
    per_batch = APRHook(objective, builder, 1.0).adversarial_deltas(model, batch, 0.5)
    whole = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
    with torch.no_grad():
        clean = objective.pair_loss(model, whole).item()
        raised_full = objective.pair_loss(model, whole, full).item() - clean
        raised_batch = objective.pair_loss(model, whole, per_batch).item() - clean
    assert raised_full > 1.2 * raised_batch > 0, (raised_full, raised_batch)


def test_without_data_the_hook_says_what_is_missing(make_model, batch):
    _, _, hook = _hook(every=1)
    with pytest.raises(RuntimeError, match="use_full_data"):
        hook.adversarial_deltas(make_model("mf"), batch, 0.5)


SMALL = {
    "seed": 7,
    "data": {"synthetic": {"n_users": 60, "n_items": 80, "interactions_per_user": 10}},
    "model": {"dim": 8},
    "train": {"epochs": 4, "batch_size": 128, "patience": 50, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [5, 10], "metrics": ["ndcg", "hit"]},
    "adversary": {"name": "apr", "eps": 0.5, "eps_mode": "relative", "start_epoch": 1, "full_data_every": 3},
}


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, crash_at):
    cfg = parse_config(SMALL)
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(2)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    logs = [
        [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("full", "part")
    ]
    assert [x.get("adv_loss") for x in logs[0]] == [x.get("adv_loss") for x in logs[1]]
    assert logs[0][0].get("adv_loss") is None and all(x["adv_loss"] > 0 for x in logs[0][1:])


def test_sasrec_trains_against_the_full_data_delta(tmp_path):
    adversary = {"name": "apr", "eps": 0.5, "eps_mode": "relative", "full_data_every": 2}
    raw = walk_config(tmp_path, adversary=adversary, train={"epochs": 2})
    train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(x["adv_loss"] > 0 for x in log)
    # the hook's pass reads the windows in batches of 256, the probe's in train.batch_size: the same
    # mean gradient (each batch weighted by its number of windows)
    config, split, model = load_run(tmp_path / "run")
    objective = SequentialObjective(config.model.loss, config.model.span)
    tables = {k: torch.zeros_like(t.detach()) for k, t in model.embedding_tables().items()}
    big, small = (
        full_data_gradient_fn(
            model.eval(), objective, probe_batches(config.model, split, config.seed, "cpu", size)
        )(tables)
        for size in (256, 3)
    )
    assert all(torch.allclose(big[k], small[k], atol=1e-7) for k in big)
    assert all(big[k].abs().sum() > 0 for k in big)


def test_config_errors_name_the_key(adversary_of):
    objective = build_objective("bpr", 0.0)

    def config(**adversary):
        raw = json.loads(json.dumps(SMALL))
        raw["adversary"].update(adversary)
        return parse_config(raw)

    with pytest.raises(ConfigError, match="adversary.full_data_every"):
        config(full_data_every=0)
    with pytest.raises(ConfigError, match="adversary: full_data_every: not with universal_step"):
        config(universal_step=0.5)
    with pytest.raises(ConfigError, match="adversary: full_data_every: needs method fgsm or pgd"):
        config(method="random")
    with pytest.raises(ConfigError, match="adversary.full_data_every: this run's training path"):
        adversary_of(config(), objective)
    with pytest.raises(ConfigError, match="adversary.full_data_every: not under distributed training"):
        adversary_of(config(), objective, lambda: [], world_size=2)
    with pytest.raises(ConfigError, match="unknown key 'adversary.full_data_every'"):
        raw = json.loads(json.dumps(SMALL))
        raw["model"] = {"name": "lightgcn", "dim": 8, "n_layers": 1}
        raw["adversary"] = {"name": "simgcl", "full_data_every": 2}
        parse_config(raw)
    with pytest.raises(ValueError, match="full_data_every"):
        APRHook(objective, PerturbationBuilder("fgsm", 0.5), full_data_every=0)
