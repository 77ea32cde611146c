"""`adversary.shared_forward`: APR on SASRec's scored table reusing the clean forward's hidden states.
Without dropout it is the same objective as the full path (which runs the network again), so the total
loss and every parameter gradient must agree; with dropout it must reuse the clean masks."""

import json

import pytest
import torch
from test_sasrec import _batch, _model
from test_sequential_run import _config as walk_config

from advrec.errors import ConfigError
from advrec.objectives.sequential import SequentialObjective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.gradients import delta_gradients
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train.adversaries.apr import APRHook


def _hook(shared: bool, objective, method="fgsm"):
    builder = PerturbationBuilder(
        method, 0.5, "relative", pgd_steps=3, generator=torch.Generator().manual_seed(0)
    )
    return APRHook(objective, builder, 1.0, targets=["item_output"], shared_forward=shared)


def count_forwards(model) -> list[int]:
    """A list that grows by one each time the model's network runs (``model.hidden``)."""
    calls: list[int] = []
    original = model.hidden

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.hidden = counting
    return calls


def _loss_and_grads(model, objective, hook, batch):
    hook.on_epoch_start(0)
    model.zero_grad()
    loss = hook.on_loss(model, batch, objective(model, batch))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("loss", ["ce", "bce"])
@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_without_dropout_it_is_the_full_paths_objective(loss, method):
    batch = _batch(negatives=loss == "bce")
    results = []
    for shared in (False, True):
        model = _model(dropout=0.0).train()
        objective = SequentialObjective(loss)
        results.append(_loss_and_grads(model, objective, _hook(shared, objective, method), batch))
    (full_loss, full_grads), (shared_loss, shared_grads) = results
    plain = SequentialObjective(loss)(_model(dropout=0.0), batch)
    assert shared_loss > plain  # the adversarial term is on, and it raises the loss
    assert torch.allclose(shared_loss, full_loss, rtol=1e-6, atol=1e-7)
    for name, grad in full_grads.items():
        assert torch.allclose(shared_grads[name], grad, rtol=1e-4, atol=1e-7), name


def test_with_dropout_it_reuses_the_clean_forward():
    """With dropout the full path draws new masks for each pass; the shared one runs the network once, and
    its adversarial term is the loss at the clean call's states with the Δ of those states."""
    torch.manual_seed(0)
    model = _model(dropout=0.5).train()
    objective = SequentialObjective("ce")
    batch = _batch()
    calls = count_forwards(model)
    hook = _hook(True, objective)
    hook.on_epoch_start(0)
    clean = objective(model, batch)
    total = hook.on_loss(model, batch, clean)
    assert len(calls) == 1  # the clean forward only
    states = objective.clean_states(batch)
    tables = {"item_output": model.item_embedding.detach()}
    delta = PerturbationBuilder("fgsm", 0.5, "relative")(
        tables,
        lambda d: delta_gradients(lambda x: objective.loss_from_states(model, batch, states.detach(), x), d),
    )
    expected = clean + objective.loss_from_states(model, batch, states, delta)
    assert torch.allclose(total, expected) and total > clean
    calls.clear()  # the full path runs the network twice more (Δ's gradient, then the loss at Θ + Δ)
    full = _hook(False, objective)
    full.on_epoch_start(0)
    full.on_loss(model, batch, objective(model, batch))
    assert len(calls) == 3
    with pytest.raises(RuntimeError, match="clean_states"):
        objective.clean_states({**batch, "inputs": batch["inputs"].clone()})


def test_run_and_config_errors(tmp_path):
    adversary = {"name": "apr", "eps": 0.5, "eps_mode": "relative", "targets": ["item_output"]}
    raw = walk_config(tmp_path, adversary={**adversary, "shared_forward": True}, train={"epochs": 3})
    results = train_run(parse_config(raw), tmp_path / "run", show_progress=False)
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(x["adv_loss"] > 0 for x in log) and log[-1]["loss"] < log[0]["loss"]
    assert results["test"]["hit@10"] > 0
    objective = SequentialObjective("ce")
    both = walk_config(tmp_path, adversary={**adversary, "targets": None, "shared_forward": True})
    with pytest.raises(ConfigError, match="adversary: shared_forward: needs targets \\[item_output\\]"):
        parse_config(both)
    universal = walk_config(tmp_path, adversary={**adversary, "shared_forward": True, "universal_step": 0.5})
    with pytest.raises(ConfigError, match="adversary: shared_forward: not with universal_step"):
        parse_config(universal)
    with pytest.raises(ValueError, match="shared_forward"):
        APRHook(objective, PerturbationBuilder("fgsm", 0.5), shared_forward=True, universal_step=0.5)
