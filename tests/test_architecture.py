"""ARCHITECTURE.md is true: it names every module, and each module imports only modules it lists before it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mnistzip"


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name without ``mnistzip.`` (``cli`` is cli/__init__.py)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"] = path
    return found


def documented_order() -> list[str]:
    """The modules in the order ARCHITECTURE.md's "Layers" introduces them (each as `name` (what it is))."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    layers = text[text.index("## Layers"):text.index("## Rules")]
    known = modules()
    return list(dict.fromkeys(name for name in re.findall(r"`([\w.]+)`\s+\(", layers) if name in known))


def imported(name: str, path: Path) -> set[str]:
    """The package's modules that module ``name`` imports, at the top or inside functions."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mnistzip")):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = base + ((node.module or "").removeprefix("mnistzip").strip(".").split(".") if node.module else [])
            target = [t for t in target if t]
            for alias in node.names:
                for candidate in (".".join(target + [alias.name]), ".".join(target)):
                    if candidate in modules():
                        found.add(candidate)
                        break
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("mnistzip.") for a in node.names if a.name.startswith("mnistzip.")}
    return found - {name}


def test_every_module_is_named_once_in_the_layers():
    assert sorted(documented_order()) == sorted(set(modules()) - {"__init__"})


def test_each_module_imports_only_modules_listed_before_it():
    order = documented_order()
    place = {name: i for i, name in enumerate(order)}
    upward = [f"{name} imports {other}" for name in order for other in sorted(imported(name, modules()[name]))
              if other != "__init__" and place[other] > place[name]]
    assert upward == []
