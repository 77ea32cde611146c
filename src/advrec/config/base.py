"""What every config is made of: strict pydantic models, and registries of named components.

A component (a model, an adversary, a perturbation method, an attack, a defence, ...) declares its
settings as a :class:`Component` subclass next to its code and registers itself in its kind's
:class:`Registry` with a decorator::

    class MFConfig(EmbeddingConfig):
        name: Literal["mf"] = "mf"

    @MODELS.register(MFConfig)
    def build_mf(cfg: MFConfig, ...) -> MF: ...

A config section of that kind (``model:``, ``adversary:``, ...) is validated by the registered class its
``name`` picks, so a key that the chosen component does not have is an error naming the valid ones, and
no "only X uses this" check is needed. A registry finds its components by importing every module of its
package the first time it is asked (so a new component is one new file), never at import time.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from advrec.errors import ConfigError

T = TypeVar("T")


class Strict(BaseModel):
    """Unknown keys are errors; assignments are validated too."""

    # strict: no bool read as a number, no float truncated to an int; no NaN or infinity anywhere
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


class Component(Strict):
    """The settings of one registered component; ``name`` says which (a ``Literal`` in each subclass).
    A kind's base class names its registry (``registry``), so that errors can list the valid keys of the
    component a section names."""

    registry: ClassVar[Registry[Any] | None] = None
    name: str


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered component: its name, its settings class, what builds it, and what else its registry
    records about it (e.g. which training procedure a model needs)."""

    name: str
    config: type[Component]
    build: T
    info: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> component, for one kind of component living in one package.

    ``key`` is the config key that names the component (``model.name``), for error messages;
    ``default`` the name a section without ``name`` gets.
    """

    def __init__(self, kind: str, key: str, package: str, default: str | None = None) -> None:
        self.kind = kind
        self.key = key
        self.package = package
        self.default = default
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = False

    def register(self, config: type[Component], **info: Any) -> Callable[[T], T]:
        """Decorator: register what it decorates under the ``name`` default of ``config``."""
        name = config.model_fields["name"].default
        if not isinstance(name, str):
            raise TypeError(f"{config.__name__}.name needs a string default (its registered name)")

        def add(build: T) -> T:
            if name in self._entries and self._entries[name].build is not build:
                raise TypeError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, config, build, info)
            return build

        return add

    def discover(self) -> None:
        """Import every module of the registry's package once, so that each registers itself."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{self.package}."):
            importlib.import_module(module.name)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        self.discover()
        return iter([self._entries[name] for name in sorted(self._entries)])

    def __contains__(self, name: object) -> bool:
        self.discover()
        return isinstance(name, str) and name in self._entries  # a list or dict as a name is no name

    def __getitem__(self, name: str) -> Entry[T]:
        self.discover()
        if name not in self._entries:
            raise ConfigError(self.unknown(name))
        return self._entries[name]

    def unknown(self, name: object) -> str:
        return f"{self.key}: unknown {self.kind} {name!r}; valid: {', '.join(self.names())}"

    def validate(self, value: Any) -> Component:
        """A section's raw value (a mapping, or a bare name) -> the settings of the component it names.
        Raises ValueError for an unknown name (pydantic reports it at the section's key), and the
        component's own validation errors with their keys."""
        if isinstance(value, Component):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping with a 'name' ({', '.join(self.names())}) or a bare name")
        name = value.get("name", self.default)
        if name is None:
            raise ValueError(f"{self.kind} 'name' is missing; valid: {', '.join(self.names())}")
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        return self._entries[name].config.model_validate({**value, "name": name})

    def default_config(self) -> Component:
        if self.default is None:
            raise TypeError(f"the {self.kind} registry has no default")
        return self[self.default].config.model_validate({})
