"""The VAT defence: the victim trained with vulnerability-aware adversarial training (Zhang et al.,
RecSys 2024; ``advrec.train.adversaries.vat``), after the same plateau of plain training as ``apr``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from advrec.defend.defences import DEFENCES, PLATEAU, DefenceConfig, adversarial_training, pretrained_first
from advrec.train.adversaries.vat import VATConfig


class VATDefence(DefenceConfig):
    """Vulnerability-aware adversarial training of the victim (its config plus this adversary)."""

    name: Literal["vat"] = "vat"
    adversary: VATConfig = Field(
        default_factory=lambda: VATConfig(start_after_plateau=PLATEAU),
        description=f"the victim's VAT settings: the keys of adversary name vat; "
        f"start_after_plateau is {PLATEAU} here unless set (capped at the victim's train.patience)",
    )

    _plateau = field_validator("adversary", mode="before")(pretrained_first)


DEFENCES.register(VATDefence)(adversarial_training("vat"))
