"""APRHook: the loss it builds, its schedule, one training step, and its resumable state.

Definition under test: loss = L(Θ) + λ · L_pair(Θ + Δ_adv), L = pair loss + L2 on Θ. Hence with ε = 0
the hook returns exactly L + λ · L_pair(Θ), which is exactly 2 · L when λ = 1 and there is no L2.
"""

import pytest
import torch

from advrec.objectives.pairwise import build_objective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.gradients import delta_gradients
from advrec.perturb.perturbation import project_rows, row_norms, unit_rows
from advrec.train.adversaries.apr import APRHook

MODELS = ["mf", "neumf", "lightgcn"]


def _hook(method="fgsm", eps=0.05, reg_adv=1.0, l2=0.0, seed=0, **kw):
    objective = build_objective("bpr", l2)
    builder = PerturbationBuilder(method, eps, generator=torch.Generator().manual_seed(seed))
    return objective, APRHook(objective, builder, reg_adv, **kw)


@pytest.mark.parametrize("method", ["fgsm", "fgsm_sign", "pgd", "random"])
@pytest.mark.parametrize("name", MODELS)
def test_zero_eps_reduces_exactly_to_the_plain_objective(method, name, make_model, batch):
    model = make_model(name)
    objective, hook = _hook(method, eps=0.0, reg_adv=0.3, l2=1e-3)
    hook.on_epoch_start(0)
    plain = objective(model, batch)
    assert torch.equal(hook.on_loss(model, batch, plain), plain + 0.3 * objective.pair_loss(model, batch))
    objective, hook = _hook(method, eps=0.0, reg_adv=1.0, l2=0.0)
    hook.on_epoch_start(0)
    plain = objective(model, batch)
    assert torch.equal(hook.on_loss(model, batch, plain), 2 * plain)


def test_schedule_pretrains_then_ramps(make_model, batch):
    model = make_model("mf")
    objective, hook = _hook(eps=0.4, start_epoch=2, eps_ramp_epochs=4)
    assert [hook.eps_at(e) for e in range(7)] == pytest.approx([0, 0, 0.1, 0.2, 0.3, 0.4, 0.4])
    assert [hook.counts_for_selection(e) for e in range(4)] == [False, False, True, True]
    plain = objective(model, batch)
    hook.on_epoch_start(1)
    assert hook.on_loss(model, batch, plain) is plain
    log = {}
    hook.on_epoch_end(1, log)
    assert log == {}
    hook.on_epoch_start(2)
    assert hook.on_loss(model, batch, plain) > plain
    hook.on_epoch_end(2, log)
    assert log["adv_eps"] == pytest.approx(0.1) and log["adv_loss"] > 0


def test_plateau_start_switches_on_after_plain_training_stops_improving():
    _, hook = _hook(start_epoch=1, start_after_plateau=2, select_metric="ndcg@10")
    valid = [0.9, 0.1, 0.2, 0.3, 0.3, 0.25, 0.5]  # epoch 0 is before start_epoch: not counted
    logs = []
    for epoch, value in enumerate(valid):
        hook.on_epoch_start(epoch)
        log = {"valid": {"ndcg@10": value}}
        hook.on_epoch_end(epoch, log)
        logs.append(log)
    # best 0.3 at epoch 3; epochs 4 and 5 do not beat it -> the adversary is on from epoch 6
    assert [hook.active(e) for e in range(7)] == [False] * 6 + [True]
    assert logs[5]["adv_starts_at"] == 6 and "adv_eps" in logs[6]
    assert [hook.counts_for_selection(e) for e in range(7)] == [False] * 6 + [True]
    # the found start survives a checkpoint
    _, fresh = _hook(start_epoch=1, start_after_plateau=2)
    fresh.load_state_dict(hook.state_dict())
    assert fresh.started_at == 6 and fresh.active(6) and not fresh.active(5)


def test_min_adv_epochs_holds_selection_back_after_the_start():
    # fixed start: epochs 2, 3, 4 are adversarial but only from epoch 2 + 3 = 5 on may one be selected
    _, hook = _hook(start_epoch=2, min_adv_epochs=3)
    assert [hook.active(e) for e in range(7)] == [False] * 2 + [True] * 5
    assert [hook.counts_for_selection(e) for e in range(7)] == [False] * 5 + [True] * 2
    # plateau start: counted from the epoch found, not from start_epoch
    _, hook = _hook(start_after_plateau=1, min_adv_epochs=2)
    for epoch, value in enumerate([0.5, 0.4]):  # epoch 1 does not improve -> on from epoch 2
        hook.on_epoch_start(epoch)
        hook.on_epoch_end(epoch, {"valid": {"ndcg@10": value}})
    assert hook.started_at == 2
    assert [hook.counts_for_selection(e) for e in range(6)] == [False] * 4 + [True] * 2
    with pytest.raises(ValueError, match="min_adv_epochs"):
        _hook(min_adv_epochs=-1)


@pytest.mark.parametrize("name", MODELS)
def test_one_apr_step_changes_parameters_and_lowers_the_apr_objective(name, make_model, batch):
    model = make_model(name).train()
    objective, hook = _hook("fgsm", eps=0.05, reg_adv=1.0, l2=1e-4)
    hook.on_epoch_start(0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss0 = hook.on_loss(model, batch, objective(model, batch))
    opt.zero_grad()
    loss0.backward()
    opt.step()
    for key, value in model.named_parameters():
        if "embedding" in key or "gmf" in key or "mlp_" in key:
            assert not torch.equal(value, before[key]), key
    # The APR objective at the new parameters, with the adversary rebuilt there.
    assert hook.on_loss(model, batch, objective(model, batch)).item() < loss0.item()


def test_state_dict_makes_the_random_control_resume_exactly(make_model, batch):
    model = make_model("mf")
    _, one = _hook("random", seed=5)
    _, two = _hook("random", seed=99)
    one.on_epoch_start(3)
    one.adversarial_deltas(model, batch, 0.1)
    two.load_state_dict(one.state_dict())
    assert two.epoch == 3
    a = one.adversarial_deltas(model, batch, 0.1)
    b = two.adversarial_deltas(model, batch, 0.1)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_adversarial_deltas_are_detached(make_model, batch):
    model = make_model("lightgcn")
    _, hook = _hook("pgd")
    deltas = hook.adversarial_deltas(model, batch, 0.1)
    assert all(not d.requires_grad for d in deltas.values())
    assert all(p.grad is None for p in model.parameters())  # building Δ leaves .grad alone


def _universal_hook(step, eps=0.5, mode="relative"):
    objective = build_objective("bpr", 0.0)
    builder = PerturbationBuilder("fgsm", eps, mode, generator=torch.Generator().manual_seed(0))
    return objective, builder, APRHook(objective, builder, 1.0, universal_step=step)


def test_universal_delta_by_hand_kept_across_batches_and_resumed(make_model, batch):
    model = make_model("mf")
    objective, builder, hook = _universal_hook(step=0.25)
    tables = {k: t.detach() for k, t in model.embedding_tables().items()}
    radius = {k: 0.5 * row_norms(t) for k, t in tables.items()}

    def grads_at(deltas, b):
        return delta_gradients(lambda d: objective.pair_loss(model, b, d), deltas)

    # step 1 from Δ = 0: a quarter of the radius along each touched row's gradient
    first = hook.adversarial_deltas(model, batch, 0.5)
    g0 = grads_at({k: torch.zeros_like(t) for k, t in tables.items()}, batch)
    for name, d in first.items():
        assert torch.allclose(d, 0.25 * radius[name] * unit_rows(g0[name]), atol=1e-7)
    # step 2: from Δ1, gradient at Θ + Δ1, then projected onto the ball
    second = hook.adversarial_deltas(model, batch, 0.5)
    g1 = grads_at(first, batch)
    for name, d in second.items():
        expected = project_rows(first[name] + 0.25 * radius[name] * unit_rows(g1[name]), radius[name])
        assert torch.allclose(d, expected, atol=1e-6)
        assert (row_norms(d) <= radius[name] + 1e-6).all()
    # a batch of other users: rows it does not touch keep their Δ
    other = {**batch, "users": torch.full_like(batch["users"], int(batch["users"].max()) + 1)}
    third = hook.adversarial_deltas(model, other, 0.5)
    untouched = [u for u in range(tables["user"].shape[0]) if u not in set(other["users"].tolist())]
    assert torch.equal(third["user"][untouched], second["user"][untouched])
    # the kept Δ is checkpointed: a fresh hook loaded from the state continues identically
    _, _, fresh = _universal_hook(step=0.25)
    fresh.load_state_dict(hook.state_dict())
    a, b = hook.adversarial_deltas(model, batch, 0.5), fresh.adversarial_deltas(model, batch, 0.5)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_universal_delta_follows_the_whole_data_gradient_better_than_one_batch(make_model, train):
    """What universal adversarial training is for: after a pass over many batches the kept Δ is closer to
    the full-data FGSM direction, and raises the full-data loss more, than the last batch's own Δ."""
    model = make_model("mf")
    objective, builder, hook = _universal_hook(step=0.1)
    gen = torch.Generator().manual_seed(3)
    users, pos = torch.from_numpy(train.users), torch.from_numpy(train.items)
    neg = torch.randint(0, train.n_items, (len(users), 1), generator=gen)
    order = torch.randperm(len(users), generator=gen)
    batches = [{"users": users[i], "pos": pos[i], "neg": neg[i]} for i in order.split(16)]
    whole = {"users": users, "pos": pos, "neg": neg}
    tables = {k: t.detach() for k, t in model.embedding_tables().items()}

    def full_grad(d):
        return delta_gradients(lambda x: objective.pair_loss(model, whole, x), d)

    target = builder(tables, full_grad, 0.5)  # the full-data FGSM Δ
    for b in batches:
        kept = hook.adversarial_deltas(model, b, 0.5)
    last = builder(
        tables, lambda d: delta_gradients(lambda x: objective.pair_loss(model, batches[-1], x), d), 0.5
    )

    def cosine(a, b):
        return float((a * b).sum() / (a.norm() * b.norm()))

    item_cos_kept, item_cos_last = cosine(kept["item"], target["item"]), cosine(last["item"], target["item"])
    assert item_cos_kept > item_cos_last + 0.2, (item_cos_kept, item_cos_last)
    with torch.no_grad():
        loss_kept = objective.pair_loss(model, whole, kept).item()
        loss_last = objective.pair_loss(model, whole, last).item()
        clean = objective.pair_loss(model, whole).item()
    assert loss_kept > loss_last > clean


def test_universal_step_errors():
    objective = build_objective("bpr", 0.0)
    with pytest.raises(ValueError, match="universal_step"):
        APRHook(objective, PerturbationBuilder("pgd", 0.5), universal_step=0.5)
    with pytest.raises(ValueError, match="universal_step"):
        APRHook(objective, PerturbationBuilder("fgsm", 0.5), universal_step=0.0)
