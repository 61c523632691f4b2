"""dvc.yaml follows from the code: a stage's code deps from its imports (every thz module it runs
is a dep, so an edit re-runs it, and nothing else is, so nothing re-runs needlessly), and a
training stage's params from what its variant reads (thz.train.variants.VARIANTS)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from thz.train.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    """The file of a project module (thz.x.y or stages.x), or None for a third-party one."""
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Project modules imported anywhere in `path` (function-level imports too), with the
    packages they pass through (importing thz.data.scan runs thz/data/__init__.py)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] not in ("thz", "stages"):
                continue
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if _module_file(name) is not None}


def imported_files(module: str) -> set[Path]:
    """Every project file that running `python -m module` executes, relative to the repo root."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imports(_module_file(name)))
    return {_module_file(name).relative_to(ROOT) for name in seen}


def _only_docstring(path: Path) -> bool:
    """A package file with no code in it cannot change a result: no dep needed."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def _covers(dep: str, path: Path) -> bool:
    return path == Path(dep) or Path(dep) in path.parents


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if isinstance(d, str) and d.split("/")[0] in ("thz", "stages")]


@pytest.mark.parametrize("name", list(_stages()))
def test_stage_code_deps_are_exactly_what_it_imports(name):
    stage = _stages()[name]
    module = stage["cmd"].split("python -m ", 1)[1].split()[0]
    files = {p for p in imported_files(module) if not _only_docstring(ROOT / p)}
    deps = _code_deps(stage)
    missing = sorted(str(p) for p in files if not any(_covers(d, p) for d in deps))
    assert not missing, f"stage {name}: add to deps (imported, not listed): {missing}"
    unused = [d for d in deps if not any(_covers(d, p) for p in files)]
    assert not unused, f"stage {name}: deps that nothing it runs imports: {unused}"
    redundant = [d for d in deps if any(o != d and _covers(o, Path(d)) for o in deps)]
    assert not redundant, f"stage {name}: listed twice (inside a listed folder): {redundant}"


def test_the_import_walk_sees_function_level_imports():
    # thz.checkpoint.load_model imports thz.models inside the function (to keep the module light)
    assert Path("thz/models/multitask.py") in imported_files("thz.checkpoint")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_stage_params_are_what_the_variant_reads(variant):
    stage = _stages()[f"train_{variant}"]
    assert sorted(stage["params"]) == sorted(VARIANTS[variant].reads)
    assert f"budget.{variant}" in stage["params"]  # its own budget, and no other model's
    assert not [p for p in stage["params"] if p.startswith("budget") and p != f"budget.{variant}"]


def test_the_student_depends_on_its_teacher():
    assert "models/fold_${item}/teacher" in _stages()["train_student"]["deps"]


def test_the_models_evaluated_and_compared_are_the_trained_variants():
    from thz.eval.compare import MODELS

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert MODELS == tuple(VARIANTS) == tuple(stages["evaluate"]["matrix"]["model"])
    assert {f"train_{m}" for m in MODELS} <= set(stages)
