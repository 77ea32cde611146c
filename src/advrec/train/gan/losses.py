"""GAN losses as pure functions of the discriminator's logits (its pre-sigmoid output).

Each family gives a discriminator loss ``d(real, fake)`` and a generator loss ``g(fake)``, both means over
the batch, both minimised. Written with ``softplus`` so that nothing takes the log of a sigmoid that
rounded to 0 or 1: -log σ(x) = softplus(-x) and -log(1 - σ(x)) = softplus(x), finite for any finite x.

- minimax (Goodfellow et al. 2014): D: -[log D(x) + log(1 - D(G(z)))];  G: log(1 - D(G(z)))
- non_saturating: D as minimax;  G: -log D(G(z))
- wgan_gp (Gulrajani et al. 2017): D: mean f(G(z)) - mean f(x) (+ ``gradient_penalty``);  G: -mean f(G(z))
- hinge: D: mean relu(1 - f(x)) + mean relu(1 + f(G(z)));  G: -mean f(G(z))
- least_squares (Mao et al. 2017, a=0, b=c=1 on the raw output): D: ½(f(x) - 1)² + ½ f(G(z))²;
  G: ½(f(G(z)) - 1)²
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from advrec.errors import ConfigError

Tensor = torch.Tensor


def minimax_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def minimax_g(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()  # log(1 - σ(f)) = -softplus(f)


def non_saturating_g(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()


def wgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def wgan_g(fake: Tensor) -> Tensor:
    return -fake.mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def least_squares_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def least_squares_g(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, weight: Tensor
) -> Tensor:
    """WGAN-GP's E[(‖∇ critic(x̂)‖₂ - 1)²] at x̂ = w·real + (1 - w)·fake, one w per row ([B, 1]).

    The gradient is taken with ``create_graph`` so that the penalty itself trains the critic.
    """
    mixed = (weight * real + (1.0 - weight) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


@dataclass(frozen=True)
class GanLoss:
    name: str
    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]
    needs_gradient_penalty: bool = False


GAN_LOSSES: dict[str, GanLoss] = {
    "minimax": GanLoss("minimax", minimax_d, minimax_g),
    "non_saturating": GanLoss("non_saturating", minimax_d, non_saturating_g),
    "wgan_gp": GanLoss("wgan_gp", wgan_d, wgan_g, needs_gradient_penalty=True),
    "hinge": GanLoss("hinge", hinge_d, wgan_g),
    "least_squares": GanLoss("least_squares", least_squares_d, least_squares_g),
}


def get_gan_loss(name: str) -> GanLoss:
    try:
        return GAN_LOSSES[name]
    except KeyError:
        raise ConfigError(f"model.loss: unknown GAN loss {name!r}; valid: {', '.join(GAN_LOSSES)}") from None
