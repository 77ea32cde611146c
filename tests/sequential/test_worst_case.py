"""`adversary.method: worst_case`: APR on SASRec's scored table with the exact per-position worst case in
closed form. It must equal the loss at the explicit maximiser, bound every perturbation of the same budget
from above, cost no extra pass through the network, and train."""

import json

import pytest
import torch
from test_sasrec import _batch, _model
from test_sequential_run import _config as walk_config
from test_shared_forward import count_forwards

from advrec.errors import ConfigError
from advrec.objectives.sequential import SequentialObjective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.gradients import delta_gradients
from advrec.perturb.perturbation import row_radius
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.adversaries.apr import APRHook


def _one_position(negatives: bool) -> dict[str, torch.Tensor]:
    """One target position: a perturbation shared by the batch can then be that position's worst case."""
    batch = _batch(negatives=negatives)
    keep = torch.zeros_like(batch["targets"], dtype=torch.bool)
    keep[0, -1] = True
    return {k: (v[:1] if k == "users" else (torch.where(keep, v, 0)[:1])) for k, v in batch.items()}


@pytest.mark.parametrize("loss", ["ce", "bce"])
@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_equals_the_loss_at_the_explicit_maximiser(loss, mode):
    model, objective, batch = _model(), SequentialObjective(loss), _one_position(loss == "bce")
    states = objective.states(model, batch)  # [1, dim]
    items = model.item_embedding.detach()
    radius = row_radius(items, 0.3, mode)  # [n_items + 1, 1]
    direction = (states / states.norm()).detach()  # raise every score ...
    delta = radius * direction
    target = int(batch["targets"][0, -1])
    delta[target] = -delta[target]  # ... but the target's
    at_maximiser = objective.loss_from_states(model, batch, states, {"item_output": delta})
    closed_form = objective.worst_case_loss(model, batch, states, 0.3, mode)
    assert torch.allclose(closed_form, at_maximiser, rtol=1e-6)
    assert closed_form > objective.loss_from_states(model, batch, states)


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_no_perturbation_of_the_same_budget_does_more(loss):
    model, objective, batch = _model(), SequentialObjective(loss), _batch(negatives=loss == "bce")
    states = objective.states(model, batch).detach()
    tables = {"item_output": model.item_embedding.detach()}

    def loss_at(deltas):
        return objective.loss_from_states(model, batch, states, deltas)

    worst = objective.worst_case_loss(model, batch, states, 0.5, "relative")
    clean = loss_at(None)
    for method in ("fgsm", "pgd", "random"):
        builder = PerturbationBuilder(method, 0.5, "relative", pgd_steps=5)
        deltas = builder(tables, lambda d: delta_gradients(loss_at, d))
        assert clean < worst and loss_at(deltas) <= worst, method
    assert torch.allclose(objective.worst_case_loss(model, batch, states, 0.0, "relative"), clean)


def test_the_hook_adds_it_on_the_clean_forward_alone():
    model = _model(dropout=0.0).train()
    objective, batch = SequentialObjective("ce"), _batch()
    calls = count_forwards(model)
    builder = PerturbationBuilder("worst_case", 0.5, "relative")
    hook = APRHook(objective, builder, 2.0, targets=["item_output"])
    hook.on_epoch_start(0)
    clean = objective(model, batch)
    total = hook.on_loss(model, batch, clean)
    assert len(calls) == 1
    states = objective.clean_states(batch)
    worst = objective.worst_case_loss(model, batch, states, 0.5, "relative")
    assert torch.allclose(total, clean + 2.0 * worst)
    with pytest.raises(ValueError, match="closed form"):
        builder({"item_output": model.item_embedding.detach()}, lambda d: d)


def test_trains_and_config_errors(tmp_path, adversary_of):
    adversary = {"name": "apr", "method": "worst_case", "eps": 0.2, "eps_mode": "relative"}
    raw = walk_config(tmp_path, adversary={**adversary, "targets": ["item_output"]}, train={"epochs": 4})
    results = train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(x["adv_loss"] > 0 for x in log)
    assert log[-1]["loss"] < log[0]["loss"] and log[-1]["adv_loss"] < log[0]["adv_loss"]
    assert results["test"]["hit@10"] > 0
    objective = SequentialObjective("ce")
    with pytest.raises(ConfigError, match="method worst_case: needs targets \\[item_output\\]"):
        parse_config(walk_config(tmp_path, adversary=adversary))
    shared = {**adversary, "targets": ["item_output"], "shared_forward": True}
    with pytest.raises(ConfigError, match="worst_case builds no"):
        parse_config(walk_config(tmp_path, adversary=shared))
    mf = walk_config(tmp_path, adversary={**adversary, "targets": ["item_output"]})
    mf["model"] = {"name": "mf"}
    with pytest.raises(ConfigError, match="adversary.method: worst_case needs a sequential model"):
        adversary_of(parse_config(mf), objective)
    with pytest.raises(ValueError, match="no closed-form worst case"):
        APRHook(object(), PerturbationBuilder("worst_case", 0.5))
