"""Test helpers that read the project's imports from its source (ast, nothing is imported): what
running a module executes (tests/test_dvc_yaml.py: a stage's deps), which modules import which
(tests/test_layout.py: layers, circles, orphans)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("thz", "stages", "lab", "tests")  # the top-level packages of this repository


@cache
def module_file(name: str) -> Path | None:
    """The file of a project module (thz.x.y, stages.x, lab.x, tests.x), or None for a third-party one."""
    if name.split(".")[0] not in PROJECT:
        return None
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    """thz/data/scan.py -> thz.data.scan, thz/data/__init__.py -> thz.data (relative or absolute path)."""
    parts = (path.relative_to(ROOT) if path.is_absolute() else path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache  # the walks ask for the same files many times; the source does not change under a test run
def _named(path: Path) -> tuple[str, ...]:
    """Every dotted name an import statement anywhere in `path` (function-level too) names, with
    `from a.b import c` as both a.b and a.b.c (c may be a module or a name in a.b)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return tuple(names)


def direct_imports(path: Path) -> set[str]:
    """The project modules `path` imports by name: for each import, the deepest module it names
    (`from thz.models import build_model` is thz.models; `import thz.data.scan` is thz.data.scan)."""
    found = set()
    for name in _named(path):
        candidates = [name.rsplit(".", n)[0] for n in range(name.count(".") + 1)]  # a.b.c, a.b, a
        found.update([c for c in candidates if module_file(c)][:1])
    return found


def _imports(path: Path) -> set[str]:
    """Project modules imported anywhere in `path`, with the packages they pass through (importing
    thz.data.scan runs thz/data/__init__.py)."""
    found = set()
    for name in _named(path):
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if module_file(name) is not None}


def imported_files(module: str) -> set[Path]:
    """Every project file that running `python -m module` executes, relative to the repo root."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imports(module_file(name)))
    return {module_file(name).relative_to(ROOT) for name in seen}


@cache
def only_docstring(path: Path) -> bool:
    """A package file with no code in it cannot change a result: no dep needed."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def source_files(top: str) -> list[Path]:
    """The .py files of a top-level folder (thz, stages, lab, tests), relative to the repo root."""
    return sorted(p.relative_to(ROOT) for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)
