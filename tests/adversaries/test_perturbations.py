"""The perturbation builders: adversarial beats same-norm noise, budgets hold, ε = 0 is a no-op."""

import pytest
import torch

from advrec.objectives.pairwise import build_objective
from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.gradients import delta_gradients
from advrec.perturb.perturbation import project_rows, row_norms, row_radius, unit_rows

MODELS = ["mf", "neumf", "lightgcn"]

EPS = 0.02  # first-order regime for init_std 0.1 embeddings (rows of norm ~0.3)


def _setup(model, batch, l2=0.0):
    objective = build_objective("bpr", l2)

    def gradient_fn(deltas):
        return delta_gradients(lambda d: objective.pair_loss(model, batch, d), deltas)

    return objective, gradient_fn


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("method", ["fgsm", "fgsm_sign", "pgd"])
@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_adversarial_raises_loss_more_than_same_norm_noise(name, method, eps_mode, make_model, batch):
    model = make_model(name)
    objective, gradient_fn = _setup(model, batch)
    eps = EPS if eps_mode == "absolute" else 0.1
    builder = PerturbationBuilder(method, eps, eps_mode, generator=torch.Generator().manual_seed(0))
    deltas = builder(model.embedding_tables(), gradient_fn)
    noise = builder.random_like(deltas)
    for name_, d in deltas.items():
        assert torch.allclose(row_norms(noise[name_]), row_norms(d), atol=1e-6)
    with torch.no_grad():
        clean = objective.pair_loss(model, batch).item()
        adv = objective.pair_loss(model, batch, deltas).item()
        rand = objective.pair_loss(model, batch, noise).item()
    assert adv > clean
    assert adv - clean > 3 * abs(rand - clean)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_pgd_stays_in_the_ball_and_fgsm_is_on_its_surface(name, eps_mode, make_model, batch):
    model = make_model(name)
    _, gradient_fn = _setup(model, batch)
    tables = model.embedding_tables()
    for steps, alpha in [(5, None), (3, 1.0), (10, 0.3)]:
        pgd = PerturbationBuilder("pgd", 0.3, eps_mode, pgd_steps=steps, pgd_alpha=alpha)(tables, gradient_fn)
        for key, d in pgd.items():
            radius = 0.3 if eps_mode == "absolute" else 0.3 * row_norms(tables[key].detach())
            assert (row_norms(d) <= radius + 1e-6).all()
    fgsm = PerturbationBuilder("fgsm", 0.3, eps_mode)(tables, gradient_fn)
    grads = gradient_fn({k: torch.zeros_like(t) for k, t in tables.items()})
    for key, d in fgsm.items():
        touched = row_norms(grads[key]).squeeze(1) > 0
        radius = torch.full_like(row_norms(d), 0.3)
        if eps_mode == "relative":
            radius = 0.3 * row_norms(tables[key].detach())
        assert touched.any()
        assert torch.allclose(row_norms(d)[touched], radius[touched], rtol=1e-5)
        assert torch.equal(d[~touched], torch.zeros_like(d[~touched]))


def test_one_step_pgd_with_a_full_step_is_fgsm(make_model, batch):
    model = make_model("mf")
    _, gradient_fn = _setup(model, batch)
    tables = model.embedding_tables()
    fgsm = PerturbationBuilder("fgsm", 0.1)(tables, gradient_fn)
    pgd = PerturbationBuilder("pgd", 0.1, pgd_steps=1, pgd_alpha=1.0)(tables, gradient_fn)
    for key in fgsm:
        assert torch.allclose(fgsm[key], pgd[key], atol=1e-7)


@pytest.mark.parametrize("method", ["fgsm", "fgsm_sign", "pgd", "random"])
@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_zero_eps_gives_zero_deltas(method, eps_mode, make_model, batch):
    model = make_model("neumf")
    _, gradient_fn = _setup(model, batch)
    deltas = PerturbationBuilder(method, 0.0, eps_mode)(model.embedding_tables(), gradient_fn)
    assert all(torch.equal(d, torch.zeros_like(d)) for d in deltas.values())


def test_row_algebra():
    g = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    assert torch.allclose(unit_rows(g), torch.tensor([[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]]))
    projected = project_rows(g, torch.tensor([[1.0], [1.0], [5.0]]))
    assert torch.allclose(projected, torch.tensor([[0.6, 0.8], [0.0, 0.0], [0.0, -2.0]]))
    with pytest.raises(ValueError, match="unknown perturbation method"):
        PerturbationBuilder("fgm")


@pytest.mark.parametrize("eps_mode", ["absolute", "relative"])
def test_fgsm_random_start_by_hand(eps_mode, make_model, batch):
    """FGSM-RS: Δ0 uniform in each row's ball (direction and radius fraction from the generator), then
    Π_r(Δ0 + 1.25 r g/||g||) with g taken at Θ + Δ0; still beats the same-norm random control."""
    model = make_model("mf")
    objective, gradient_fn = _setup(model, batch)
    tables = model.embedding_tables()
    eps = EPS if eps_mode == "absolute" else 0.1

    def builder(random_start=True):
        gen = torch.Generator().manual_seed(5)
        return PerturbationBuilder("fgsm", eps, eps_mode, generator=gen, random_start=random_start)

    deltas = builder()(tables, gradient_fn)
    radius = {k: row_radius(t, eps, eps_mode) for k, t in tables.items()}
    zeros = {k: torch.zeros_like(t.detach()) for k, t in tables.items()}
    start = builder(random_start=False)._random_start(zeros, radius)  # the same generator draws
    grads = gradient_fn(start)
    for key, d in deltas.items():
        r = radius[key]
        assert (row_norms(start[key]) <= r + 1e-7).all() and row_norms(start[key]).std() > 0
        expected = project_rows(start[key] + 1.25 * r * unit_rows(grads[key]), r)
        assert torch.allclose(d, expected, atol=1e-7)
        assert (row_norms(d) <= r + 1e-6).all()
    again = builder()(tables, gradient_fn)
    assert all(torch.equal(deltas[k], again[k]) for k in deltas)  # seeded
    assert not torch.allclose(
        deltas["item"], PerturbationBuilder("fgsm", eps, eps_mode)(tables, gradient_fn)["item"]
    )
    with torch.no_grad():
        clean = objective.pair_loss(model, batch).item()
        adv = objective.pair_loss(model, batch, deltas).item()
        rand = objective.pair_loss(model, batch, builder().random_like(deltas)).item()
    assert adv - clean > 3 * abs(rand - clean)
    with pytest.raises(ValueError, match="random_start"):
        PerturbationBuilder("fgsm_sign", 0.1, random_start=True)
