"""fgsm_sign, a perturbation method in one file: registered, built by hand, and an attack that raises the
loss more than the same budget in random directions."""

import pytest
import torch

from advrec.perturb.builder import PerturbationBuilder
from advrec.perturb.methods.registry import PERTURBATIONS
from advrec.runs.config import parse_config


def test_registered_and_usable_by_apr():
    assert "fgsm_sign" in PERTURBATIONS.names()
    config = parse_config({"adversary": {"name": "apr", "method": "fgsm_sign", "eps": 0.2}})
    assert config.adversary.method == "fgsm_sign"


@pytest.mark.parametrize("mode", ["absolute", "relative"])
def test_delta_is_the_radius_times_the_gradients_sign(mode):
    table = torch.tensor([[3.0, 4.0, 0.0], [1.0, -1.0, 2.0]])
    grad = torch.tensor([[0.5, -2.0, 0.0], [-1.0, 3.0, 0.1]])
    builder = PerturbationBuilder("fgsm_sign", eps=0.1, eps_mode=mode)
    delta = builder({"t": table}, lambda deltas: {"t": grad})["t"]
    radius = torch.tensor([[0.1], [0.1]]) if mode == "absolute" else 0.1 * table.norm(dim=1, keepdim=True)
    assert torch.allclose(delta, radius * torch.sign(grad))
    assert delta[0, 2] == 0  # a zero gradient moves nothing


def test_raises_a_linear_loss_more_than_random_directions_of_the_same_norms():
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(50, 8, generator=gen)
    weights = torch.randn(50, 8, generator=gen)
    builder = PerturbationBuilder("fgsm_sign", eps=0.05, generator=torch.Generator().manual_seed(1))
    delta = builder({"t": table}, lambda deltas: {"t": weights})["t"]
    control = builder.random_like({"t": delta})["t"]
    assert torch.allclose(control.norm(dim=1), delta.norm(dim=1), atol=1e-6)
    assert (weights * delta).sum() > (weights * control).sum()  # the linear loss <w, Δ>
