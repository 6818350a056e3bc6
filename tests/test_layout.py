"""The architecture the layout shows, kept: dependencies point one way (zoo ← training ← export ← serving;
handlers import nothing of training, export or serving), no import circle between the files of a package,
no source file over 500 lines. Read from the source with ``ast``: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "training", "export", "serving", "handlers")
#: What each package may import of the others (besides itself). ``handlers`` travels alone inside model
#: archives, so it imports none of them; the rest may use its image preprocessing.
ALLOWED = {
    "handlers": set(),
    "zoo": {"handlers"},
    "training": {"zoo", "handlers"},
    "export": {"zoo", "training", "handlers"},
    "serving": {"zoo", "training", "export", "handlers"},
}
#: ``python -m zoo`` runs the whole ``zoo`` command (build/verify need training and export) when installed beside.
ENTRY_POINTS = {"zoo.__main__"}
MAX_LINES = 500


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports included), as dotted names."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def _sources() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    return {name: {m for m in _imports(path) if m in sources and m != name} for name, path in sources.items()}


def test_every_relative_import_names_a_module_of_ours():
    """A relative import (module level or inside a function) that names no file here fails only when it runs."""
    sources = _sources()
    wrong = []
    for name, path in sources.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                stem = f"{base}.{node.module}" if node.module else base
                if stem not in sources:
                    wrong.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: {'.' * node.level}{node.module or ''} ({stem})"
                    )
    assert not wrong, "\n".join(wrong)


def test_dependencies_point_one_way():
    wrong = sorted(
        f"{a} imports {b}"
        for a, deps in _graph().items()
        for b in deps
        if a not in ENTRY_POINTS
        and b.split(".")[0] != a.split(".")[0]
        and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
    )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["training", "export", "serving", "handlers"])
def test_no_import_circle_between_files(package):
    graph = {
        a: {b for b in deps if b.split(".")[0] == package and not b == package}
        for a, deps in _graph().items()
        if a.split(".")[0] == package
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_no_source_file_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in _sources().values() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these the way training/data/ and training/steps/ are split: {long}"
