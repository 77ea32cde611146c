"""GAN losses against values computed by hand, and their numerical stability at extreme logits."""

import math

import pytest
import torch

from advrec.errors import ConfigError
from advrec.train.gan.losses import GAN_LOSSES, get_gan_loss, gradient_penalty

REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([-1.0, 1.0])


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


def test_minimax_by_hand():
    loss = get_gan_loss("minimax")
    d = mean([-math.log(sig(0.0)), -math.log(sig(2.0))]) + mean(
        [-math.log(1 - sig(-1.0)), -math.log(1 - sig(1.0))]
    )
    g = mean([math.log(1 - sig(-1.0)), math.log(1 - sig(1.0))])
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(g, rel=1e-6)
    # At D(x) = 1/2 everywhere the minimax D loss is 2·log 2 (the classic equilibrium value).
    zeros = torch.zeros(3)
    assert loss.discriminator(zeros, zeros).item() == pytest.approx(2 * math.log(2))


def test_non_saturating_by_hand():
    loss = get_gan_loss("non_saturating")
    g = mean([-math.log(sig(-1.0)), -math.log(sig(1.0))])
    assert loss.generator(FAKE).item() == pytest.approx(g, rel=1e-6)
    assert loss.discriminator(REAL, FAKE).item() == get_gan_loss("minimax").discriminator(REAL, FAKE).item()


def test_wgan_hinge_least_squares_by_hand():
    wgan = get_gan_loss("wgan_gp")
    assert wgan.discriminator(REAL, FAKE).item() == pytest.approx(0.0 - 1.0)  # mean fake 0, mean real 1
    assert wgan.generator(FAKE).item() == pytest.approx(0.0)
    assert wgan.needs_gradient_penalty
    hinge = get_gan_loss("hinge")
    # relu(1-0)=1, relu(1-2)=0 -> 0.5 ; relu(1-1)=0, relu(1+1)=2 -> 1.0
    assert hinge.discriminator(REAL, FAKE).item() == pytest.approx(1.5)
    assert hinge.generator(torch.tensor([3.0, -1.0])).item() == pytest.approx(-1.0)
    ls = get_gan_loss("least_squares")
    # ½·mean((0-1)², (2-1)²) + ½·mean(1, 1) = 0.5 + 0.5
    assert ls.discriminator(REAL, FAKE).item() == pytest.approx(1.0)
    assert ls.generator(FAKE).item() == pytest.approx(0.5 * mean([4.0, 0.0]))


@pytest.mark.parametrize("name", list(GAN_LOSSES))
def test_finite_values_and_gradients_at_extreme_logits(name):
    loss = GAN_LOSSES[name]
    real = torch.tensor([-200.0, 200.0], requires_grad=True)
    fake = torch.tensor([200.0, -200.0], requires_grad=True)
    total = loss.discriminator(real, fake) + loss.generator(fake)
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_minimax_extreme_values_are_exact():
    # A confident, wrong discriminator: -log σ(-100) = 100 (a naive log(sigmoid) would give inf).
    loss = get_gan_loss("minimax")
    value = loss.discriminator(torch.tensor([-100.0]), torch.tensor([-100.0]))
    assert value.item() == pytest.approx(100.0, rel=1e-6)


def test_gradient_penalty_by_hand():
    # critic(x) = x · a: its gradient is a everywhere, so the penalty is (‖a‖ - 1)², with a gradient.
    a = torch.tensor([3.0, 4.0], requires_grad=True)
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    gp = gradient_penalty(lambda x: x @ a, real, fake, torch.rand(5, 1))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    gp.backward()
    # d/da (‖a‖ - 1)² = 2(‖a‖ - 1) a / ‖a‖
    assert torch.allclose(a.grad, 2 * 4.0 * torch.tensor([3.0, 4.0]) / 5.0)


def test_unknown_loss_names_the_key():
    with pytest.raises(ConfigError, match="model.loss"):
        get_gan_loss("wasserstein")
