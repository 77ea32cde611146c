"""The configuration and command-line references are generated from the code and checked in: they must be
what the code generates now, and every setting they list must say what it does."""

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from advrec.cli.reference import pages
from advrec.config.base import Component

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.mark.parametrize("name", ["config.md", "cli.md"])
def test_checked_in_reference_is_current(name):
    generated = pages()[name]
    path = REFERENCE / name
    assert path.exists() and path.read_text(encoding="utf-8") == generated, (
        f"docs/reference/{name} is not what the code generates: run "
        "python -m advrec.cli.reference --write docs/reference"
    )


def _models_in(annotation) -> list[type[BaseModel]]:
    candidates = (annotation, *typing.get_args(annotation))
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]


def _settings_classes() -> list[type[BaseModel]]:
    from advrec.attack.registry import ATTACKS
    from advrec.defend.defences import DEFENCES
    from advrec.experiments.poisoning import PoisonConfig
    from advrec.experiments.study import StudyConfig
    from advrec.models.registry import MODELS
    from advrec.perturb.methods.registry import PERTURBATIONS
    from advrec.runs.config import RunConfig
    from advrec.train.adversaries.registry import ADVERSARIES

    found: list[type[BaseModel]] = []

    def walk(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for field in model.model_fields.values():
            for candidate in _models_in(field.annotation):
                if not issubclass(candidate, Component) or candidate is field.annotation:
                    walk(candidate)

    for model in (RunConfig, PoisonConfig, StudyConfig):
        walk(model)
    for registry in (MODELS, ADVERSARIES, PERTURBATIONS, ATTACKS, DEFENCES):
        for entry in registry:
            walk(entry.config)
    return found


def test_every_setting_says_what_it_does():
    undocumented = []
    for model in _settings_classes():
        if not (model.__doc__ or "").strip() or model.__doc__ == BaseModel.__doc__:
            undocumented.append(f"{model.__name__} (no docstring)")
        for name, field in model.model_fields.items():
            if name == "name" and issubclass(model, Component):
                continue  # the component's docstring says what it is
            if not field.description and not issubclass(field.annotation or object, BaseModel):
                annotation = field.annotation
                nested = [
                    a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
                ]
                if not nested:
                    undocumented.append(f"{model.__name__}.{name}")
    assert not undocumented, "settings without a description: " + ", ".join(undocumented)
