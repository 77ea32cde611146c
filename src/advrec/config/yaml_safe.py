"""A bounded, strict YAML reader for config and study files.

``yaml.safe_load`` refuses code but not size: nine lines of nested aliases ("billion laughs") expand to
billions of nodes once anything copies or walks the result, and a key given twice silently keeps the
last value. This reader checks the event stream first (nesting depth, node and alias counts; no node
is built yet, so a hostile file costs what its text costs), then the composed node graph with aliases
counted as often as they are used, and refuses duplicate keys. Every refusal is one
:class:`advrec.errors.ConfigError` line naming the source (and the line where there is one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from advrec.errors import ConfigError


@dataclass(frozen=True)
class YamlLimits:
    """Far above any real config (a large study file is a few hundred nodes), far below harm."""

    max_chars: int = 1_000_000
    max_depth: int = 64  # nesting of sequences and mappings in the text
    max_events: int = 200_000  # nodes and aliases as written
    max_nodes: int = 200_000  # nodes once every alias is expanded


DEFAULT_LIMITS = YamlLimits()


def read_yaml(text: str, source: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """The data of one YAML document (None for an empty one), with no object shared between places
    (aliases are copied: the expanded size is bounded, so copying is cheap)."""
    if len(text) > limits.max_chars:
        raise ConfigError(f"{source}: {len(text):,} characters; a config is at most {limits.max_chars:,}")
    try:
        _check_events(text, source, limits)
        loader = _StrictLoader(text, source)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expanded(node, source, limits)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(_one_line(exc, source)) from None
    return _unshared(data)  # a caller may change one place without changing the alias's other uses


def _unshared(data: Any) -> Any:
    """A copy in which no list or dict appears twice (depth is bounded by the checks above)."""
    if isinstance(data, dict):
        return {key: _unshared(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_unshared(value) for value in data]
    return data


def read_yaml_mapping(text: str, source: str, what: str = "config", limits: YamlLimits = DEFAULT_LIMITS):
    """A YAML document that must be a non-empty mapping (an empty file is refused, not read as {})."""
    data = read_yaml(text, source, limits)
    if data is None:
        raise ConfigError(f"{source}: the {what} file is empty; expected a mapping of keys")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def read_yaml_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """``read_yaml_mapping`` of a file, with a missing or unreadable file as a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} file: {exc}") from None
    return read_yaml_mapping(text, str(path), what)


def _check_events(text: str, source: str, limits: YamlLimits) -> None:
    """Depth and size from the parser's events: no node is composed, so nothing can blow up here."""
    depth = documents = 0
    for events, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader), start=1):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > limits.max_depth:
                raise ConfigError(f"{_where(source, event)}: nested deeper than {limits.max_depth} levels")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise ConfigError(f"{_where(source, event)}: more than one YAML document; expected one")
        if events > limits.max_events:
            raise ConfigError(f"{_where(source, event)}: more than {limits.max_events:,} YAML nodes")


def _check_expanded(root: Node, source: str, limits: YamlLimits) -> None:
    """Nodes and depth counted with every alias expanded, without expanding: each node's expanded size
    (depth) is the sum (maximum) of its children's, computed once per node (an alias is the very node
    object it names)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            depth[key] = (not isinstance(node, ScalarNode)) + max(
                (depth[id(child)] for child in children), default=0
            )
            if depth[key] > limits.max_depth:
                raise ConfigError(
                    f"{_where(source, node)}: aliases nest deeper than {limits.max_depth} levels"
                )
            if size[key] > limits.max_nodes:
                raise ConfigError(
                    f"{_where(source, node)}: aliases expand to more than {limits.max_nodes:,} nodes "
                    "(an alias bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(f"{_where(source, node)}: an alias refers to a node that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys ``<<`` aside), and reads
    ``1e-3`` and ``1E6`` as the numbers they are (YAML 1.2; PyYAML's 1.1 rules need a dot, ``1.0e-3``,
    and would hand a config the text '1e-3')."""

    def __init__(self, text: str, source: str):
        super().__init__(text)
        self.source = source

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise ConfigError(
                    f"{_where(self.source, key_node)}: a mapping key must be a plain value"
                ) from None
            if first is not None:
                raise ConfigError(
                    f"{_where(self.source, key_node)}: key {key!r} is given twice in one mapping "
                    f"(first on line {first}); keep one"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats without a dot (1e-3): the class's own resolver table, set up once
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _where(source: str, item: Any) -> str:
    mark = getattr(item, "start_mark", None)
    return f"{source}:{mark.line + 1}" if mark is not None else source


def _one_line(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return f"{where}: invalid YAML: {' '.join(str(detail).split())}"


__all__ = ["DEFAULT_LIMITS", "YamlLimits", "read_yaml", "read_yaml_file", "read_yaml_mapping"]
