"""The PamaCF defence: the victim trained with personalised-magnitude adversarial training (Zhang et al.,
NeurIPS 2024; ``advrec.train.adversaries.pamacf``), after the same plateau of plain training as ``apr``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from advrec.defend.defences import DEFENCES, PLATEAU, DefenceConfig, adversarial_training, pretrained_first
from advrec.train.adversaries.pamacf import PamaCFConfig


class PamaCFDefence(DefenceConfig):
    """Personalised-magnitude adversarial training of the victim (its config plus this adversary)."""

    name: Literal["pamacf"] = "pamacf"
    adversary: PamaCFConfig = Field(
        default_factory=lambda: PamaCFConfig(start_after_plateau=PLATEAU),
        description=f"the victim's PamaCF settings: the keys of adversary name pamacf; "
        f"start_after_plateau is {PLATEAU} here unless set (capped at the victim's train.patience)",
    )

    _plateau = field_validator("adversary", mode="before")(pretrained_first)


DEFENCES.register(PamaCFDefence)(adversarial_training("pamacf"))
