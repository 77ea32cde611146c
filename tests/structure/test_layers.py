"""The package layering: imports run only down the layers, and no modules import each other in a circle.

Every ``import``/``from ... import`` in ``src/advrec`` is read with ``ast``, including imports inside
functions (a lazy import is still a dependency). A package may import its own modules and the packages of
lower layers; an import of a higher layer, or of another package of the same layer, fails this test with
the file, the line and both layers named.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Bottom to top. The user's questions: what data, what model, how it is trained, what it is worth, how
# to attack it, how to defend it; then run folders, reports, compound experiments and the front doors.
LAYERS = [
    "errors",
    "utils",
    "config",
    "data",
    "models",
    "perturb",
    "objectives",
    "measure",
    "train",
    "runs",
    "attack",
    "defend",
    "report",
    "experiments",
    "api",
    "cli",
    "__main__",
]


def _modules(src: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((src / "advrec").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported advrec module, line) for every import of the file, at any depth."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("advrec")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.startswith("advrec"):
                out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an import name refers to (``advrec.x.y.Symbol`` -> ``advrec.x.y``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> tuple[int, str]:
    top = module.split(".")[1] if module.count(".") else ""
    if top not in LAYERS:
        raise AssertionError(f"{module}: package {top!r} has no place in LAYERS; add it where it belongs")
    return LAYERS.index(top), top


def _graph(src: Path) -> tuple[dict[str, Path], dict[str, list[tuple[str, int]]]]:
    modules = _modules(src)
    edges = {}
    for module, path in modules.items():
        targets = [(_resolve(name, modules), line) for name, line in _imports(module, path)]
        edges[module] = [(t, line) for t, line in targets if t and t != module and t != "advrec"]
    return modules, edges


def layer_violations(src: Path) -> list[str]:
    modules, edges = _graph(src)
    wrong = []
    for module, targets in edges.items():
        if module == "advrec":
            continue
        mine, my_pkg = _layer(module)
        for target, line in targets:
            theirs, their_pkg = _layer(target)
            if their_pkg != my_pkg and theirs >= mine:
                where = modules[module].relative_to(src.parent)
                wrong.append(f"{where}:{line}: {module} ({my_pkg}) imports {target} ({their_pkg})")
    return wrong


def circles(src: Path) -> list[str]:
    _, edges = _graph(src)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    found = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target, _ in edges.get(module, []):
            if state.get(target) == 1:
                found.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


def test_every_import_runs_down_the_layers():
    wrong = layer_violations(SRC)
    assert not wrong, "imports that run up or across the layers:\n" + "\n".join(wrong)


def test_no_circles_between_modules():
    found = circles(SRC)
    assert not found, "modules that import each other in a circle:\n" + "\n".join(found)


def test_the_checks_see_a_planted_violation(tmp_path):
    """A lazy import up the layers, one across them, and a circle inside a package are all caught."""
    files = {
        "advrec/__init__.py": "",
        "advrec/data/__init__.py": "",
        "advrec/data/io.py": "def f():\n    from advrec.cli.main import main\n",
        "advrec/data/a.py": "from advrec.data import b\n",
        "advrec/data/b.py": "from . import a\n",
        "advrec/attack/__init__.py": "",
        "advrec/attack/x.py": "import advrec.defend.y\n",
        "advrec/defend/__init__.py": "",
        "advrec/defend/y.py": "",
        "advrec/cli/__init__.py": "",
        "advrec/cli/main.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    wrong = layer_violations(tmp_path)
    assert [w.split(": ", 1)[1] for w in wrong] == [
        "advrec.attack.x (attack) imports advrec.defend.y (defend)",
        "advrec.data.io (data) imports advrec.cli.main (cli)",
    ]
    assert circles(tmp_path) == ["advrec.data.a -> advrec.data.b -> advrec.data.a"]
