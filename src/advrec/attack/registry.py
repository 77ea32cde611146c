"""Attack names -> generators (an explicit registry; an unknown name lists the valid ones)."""

from __future__ import annotations

from advrec.attack.gan_attack import gan_attack
from advrec.attack.optimised import optimised_attack
from advrec.attack.optimised_bpr import optimised_bpr_attack
from advrec.attack.profiles import Generator, average_attack, bandwagon_attack, random_attack, segment_attack
from advrec.attack.template import TemplateSettings, template_attack
from advrec.errors import ConfigError

ATTACKS: dict[str, Generator] = {
    "random": random_attack,
    "average": average_attack,
    "bandwagon": bandwagon_attack,
    "segment": segment_attack,
    "optimised": optimised_attack,
    "gan": gan_attack,
    "template": template_attack,
    "optimised-bpr": optimised_bpr_attack,
    "template-surrogate": lambda spec, train, rng: template_attack(
        spec, train, rng, TemplateSettings(choose="surrogate")
    ),
    "template-balanced": lambda spec, train, rng: template_attack(
        spec, train, rng, TemplateSettings(choose="surrogate", balance=True)
    ),
}


def get_attack(name: str) -> Generator:
    if name not in ATTACKS:
        raise ConfigError(f"--attack {name!r}: unknown attack; valid: {', '.join(ATTACKS)}")
    return ATTACKS[name]
