"""The import graph of our packages, read from the source (every import, deferred ones included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[2] / "packages"


def modules() -> dict[str, Path]:
    """Every module of our distributions: dotted name -> file."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGES.glob("*/src/kafka_backup/**/*.py")):
        src = next(p for p in path.parents if p.name == "src")
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            yield from _imports(ast.Module(body=node.orelse, type_ignores=[]))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        yield from _imports(node)


def imports_of(path: Path) -> set[str]:
    """The modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    return set(_imports(ast.parse(path.read_text(), str(path))))


def graph() -> dict[str, set[str]]:
    """Our module -> our modules it imports (names of objects imported from a module are dropped)."""
    ours = modules()
    return {name: {m for m in imports_of(path) if m in ours and m != name} for name, path in ours.items()}
