"""From YAML files and overrides to validated configs, with one-line errors that name the key.

The same machinery serves run configs (``advrec.runs.config``), study files and attack settings:

- ``read_config_file``: a YAML mapping read with the bounded reader (``advrec.config.yaml_safe``), with
  ``extends: other.yaml`` resolved (the other file, relative to this one, is the base this file's keys
  are merged over; chains are followed, cycles refused);
- ``merge`` / ``set_path`` / ``parse_overrides``: nested mappings merged key by key, dotted keys as
  paths, ``--set key=value`` values parsed as YAML scalars or lists;
- ``validate``: a pydantic model validated from raw data, its errors explained one per line, with the
  valid keys listed for an unknown one (for a registered component, the keys of the one its ``name``
  picks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from advrec.config.base import Component
from advrec.config.yaml_safe import read_yaml, read_yaml_file
from advrec.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
EXTENDS = "extends"


Fold = Callable[[dict[str, Any], dict[str, Any], str], dict[str, Any]]


def read_config_file(
    path: str | Path, what: str = "config", fold: Fold | None = None, _seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """The mapping a YAML file holds, with its ``extends:`` chain folded in, the base first: each file's
    keys merged over its base's by ``fold(base, keys, where)`` (``merge`` unless given: a run config
    folds with its own rule for switched components)."""
    path = Path(path)
    if path.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path.resolve()))
        raise ConfigError(f"{path}: {EXTENDS}: the files extend each other in a circle ({chain})")
    raw = read_yaml_file(path, what)
    base_name = raw.pop(EXTENDS, None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: {EXTENDS}: expected the path of another {what} file, got {base_name!r}")
    base = read_config_file(path.parent / base_name, what, fold, (*_seen, path.resolve()))
    return (fold or merge)(base, raw, str(path))


def copy_plain(raw: Any) -> Any:
    """A deep copy of plain YAML data (mappings, lists, scalars)."""
    return json.loads(json.dumps(raw))


def set_path(raw: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    """``raw[a][b] = value`` for ``dotted = "a.b"``; a mapping value is merged into a mapping there."""
    node = raw
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"{where}: {dotted!r} is not a key (empty part)")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: {dotted!r}: {part!r} is a value, not a section")
        node = child
    last = parts[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        for key, sub in value.items():
            set_path(node[last], str(key), sub, where)
    else:
        node[last] = value


def merge(raw: dict[str, Any], overrides: dict[str, Any], where: str = "overrides") -> dict[str, Any]:
    """``raw`` with ``overrides`` merged in: nested mappings merge key by key, dotted keys are paths."""
    out = copy_plain(raw)
    for key, value in overrides.items():
        set_path(out, str(key), copy_plain(value), where)
    return out


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["train.epochs=5", ...]`` -> ``{"train.epochs": 5, ...}`` (values parsed as YAML scalars/lists)."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.epochs=5")
        try:
            out[key.strip()] = read_yaml(value, f"--set {item!r}")
        except ConfigError as exc:
            raise ConfigError(f"--set {item!r}: cannot parse value: {exc}") from None
    return out


def validate(
    model: type[M], raw: Any, source: str, what: str = "config", flags: dict[str, str] | None = None
) -> M:
    """``model`` validated from ``raw``; errors become one ConfigError listing each key and what is wrong
    (``flags``: the command-line option that set a top-level key, named instead of the key)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(exc, source, model, raw, what, flags)) from None


def explain(
    exc: ValidationError,
    source: str,
    model: type[BaseModel],
    raw: Any,
    what: str = "config",
    flags: dict[str, str] | None = None,
) -> str:
    """One line (the CLI's error format): every problem with its key, separated by '; '."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        if flags and loc and loc[0] in flags:
            key = " ".join([flags[loc[0]], ".".join(loc[1:])]).strip()
        if err["type"] == "extra_forbidden":
            valid = sorted(fields_at(model, loc[:-1], raw))
            problems.append(f"unknown key {key!r} (valid keys here: {', '.join(valid)})")
        else:
            message = err["msg"].removeprefix("Value error, ")
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"{key}: {message}{got}")
    return f"{source}: invalid {what}: " + "; ".join(problems)


def fields_at(model: type[BaseModel], path: list[str], raw: Any) -> list[str]:
    """The keys valid at ``path`` (a registered component's: those of the one the raw ``name`` picks)."""
    for part in path:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        raw = raw.get(part) if isinstance(raw, dict) else None
        annotation = getattr(annotation, "__origin__", annotation)  # SerializeAsAny[X] -> X
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
        registry = getattr(model, "registry", None)
        if issubclass(model, Component) and registry is not None:
            own = model.model_fields["name"].default  # a field typed as one component: its own name
            default = own if isinstance(own, str) else registry.default
            name = raw.get("name", default) if isinstance(raw, dict) else default
            if name in registry:
                model = registry[name].config
    return list(model.model_fields)


def dump_yaml(model: BaseModel) -> str:
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)
