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
#: The one tie that runs against the layers, and it is no import: ``zoo weights`` offers the ``build``/``verify``
#: (training) and ``int8`` (export) commands that setup.cfg registers under this entry-point group, loaded by name
#: (zoo.cli.PluggedGroup). Each registration must name a command of a layer allowed above zoo.
REGISTRATION_GROUP = "torch_model_zoo.weights_commands"
MAX_LINES = 500
#: Fewer files than this means the walk found nothing (a moved root), and every check would pass on nothing.
MIN_SOURCES = 60


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
    found = {_module(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    empty = [pkg for pkg in PACKAGES if not any(m.split(".")[0] == pkg for m in found)]
    assert not empty and len(found) >= MIN_SOURCES, f"the layout walk found {len(found)} files; none in {empty}"
    return found


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (what ``from package import name`` can take)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    return {name: {m for m in _imports(path) if m in sources and m != name} for name, path in sources.items()}


def _wrong_relative_imports(sources: dict[str, Path]) -> list[str]:
    wrong = []
    for name, path in sources.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                stem = f"{base}.{node.module}" if node.module else base
                where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno}: {'.' * node.level}{node.module or ''}"
                if stem not in sources:
                    wrong.append(f"{where} ({stem})")
                elif not node.module:  # from . import x: x is a module of the package or a name its __init__ has
                    defined = _top_level_names(sources[stem])
                    wrong.extend(
                        f"{where} import {a.name} (neither {stem}.{a.name} nor a name in {stem})"
                        for a in node.names
                        if f"{stem}.{a.name}" not in sources and a.name not in defined
                    )
    return wrong


def test_every_relative_import_names_a_module_of_ours():
    """A relative import (module level or inside a function) that names no file here fails only when it runs."""
    wrong = _wrong_relative_imports(_sources())
    assert not wrong, "\n".join(wrong)


def test_the_relative_import_check_sees_what_it_must(tmp_path):
    """The check can fail: ``from . import x`` and ``from .x import y`` naming nothing are caught, names that an
    ``__init__`` defines and real modules are not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from . import no_such_module_here, weights, Weights, __version__\nfrom .no_such_file import x\n"
        "from ._api import get_model\n"
    )
    wrong = _wrong_relative_imports({**_sources(), "zoo.probe": probe})
    assert len(wrong) == 2 and "import no_such_module_here" in wrong[0] and "no_such_file" in wrong[1], wrong


def test_dependencies_point_one_way():
    wrong = sorted(
        f"{a} imports {b}"
        for a, deps in _graph().items()
        for b in deps
        if b.split(".")[0] != a.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
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
    files = [*_sources().values(), *sorted((ROOT / "benchmarks").glob("*.py"))]
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these the way training/data/ and training/steps/ are split: {long}"


def test_the_registered_zoo_weights_commands_come_from_layers_above_zoo():
    """setup.cfg's registrations under REGISTRATION_GROUP (the one allowed tie) name commands that exist, in
    packages allowed to use zoo (and so never zoo or handlers themselves)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in cfg["options.entry_points"][REGISTRATION_GROUP].splitlines() if line.strip()]
    assert {line.split("=")[0].strip() for line in lines} == {"build", "verify", "int8"}
    sources = _sources()
    for line in lines:
        module, _, attr = line.split("=", 1)[1].strip().partition(":")
        assert "zoo" in ALLOWED[module.split(".")[0]], line
        assert attr in _top_level_names(sources[module]), f"{line}: {module} defines no {attr}"
