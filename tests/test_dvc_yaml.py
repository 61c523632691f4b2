"""dvc.yaml follows from the code: a stage's code deps from its imports (every thz module it runs
is a dep, so an edit re-runs it, and nothing else is, so nothing re-runs needlessly), and a
training stage's params from what its variant reads (thz.train.variants.VARIANTS).

A folder is a dep exactly when the stage runs every module in it (a package file holding only a
docstring aside): then any edit in the folder re-runs the stage and no other edit does. A folder
holding a module the stage does not run is refused (list the modules it runs, file by file), and
modules listed one by one where their whole folder would do are refused too, so the deps of a
stage are one list, derived from its imports."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.imports import ROOT, imported_files, only_docstring
from thz.train.variants import VARIANTS


def _covers(dep: str, path: Path) -> bool:
    return path == Path(dep) or Path(dep) in path.parents


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def stage_module(stage: dict) -> str:
    """The module a stage's cmd runs (`python -m stages.NAME ...`)."""
    return stage["cmd"].split("python -m ", 1)[1].split()[0]


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if isinstance(d, str) and d.split("/")[0] in ("thz", "stages")]


@cache
def _files_under(folder: Path) -> list[Path]:
    """Every file DVC hashes for a folder dep (.dvcignore leaves out __pycache__), relative to the root."""
    found = (p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return tuple(sorted(p.relative_to(ROOT) for p in found))


def _not_run(folder: Path, run: set[Path]) -> list[str]:
    """The files of `folder` an edit to which would re-run a stage that runs only `run`."""
    return [str(p) for p in _files_under(folder) if p not in run and not only_docstring(ROOT / p)]


def expected_code_deps(run: set[Path]) -> set[str]:
    """The deps of a stage that runs the files `run` (docstring-only ones left out): each file, or
    the highest folder above it that the stage runs whole."""
    deps = set()
    for path in run:
        whole = [d for d in reversed(path.parents) if d != Path(".") and not _not_run(d, run)]
        deps.add(str(whole[0]) if whole else str(path))
    return deps


@pytest.mark.parametrize("name", list(_stages()))
def test_stage_code_deps_are_exactly_what_it_imports(name):
    stage = _stages()[name]
    files = {p for p in imported_files(stage_module(stage)) if not only_docstring(ROOT / p)}
    deps = _code_deps(stage)
    missing = sorted(str(p) for p in files if not any(_covers(d, p) for d in deps))
    assert not missing, f"stage {name}: add to deps (imported, not listed): {missing}"
    unused = [d for d in deps if not any(_covers(d, p) for p in files)]
    assert not unused, f"stage {name}: deps that nothing it runs imports: {unused}"
    redundant = [d for d in deps if any(o != d and _covers(o, Path(d)) for o in deps)]
    assert not redundant, f"stage {name}: listed twice (inside a listed folder): {redundant}"
    partial = {d: _not_run(Path(d), files) for d in deps if (ROOT / d).is_dir()}
    partial = {d: extra for d, extra in partial.items() if extra}
    assert not partial, f"stage {name}: folders holding files it does not run (list its modules instead): {partial}"
    whole = sorted(expected_code_deps(files) - set(deps))
    assert not whole, f"stage {name}: it runs every module of these folders; name the folder, not its files: {whole}"


def test_a_folder_is_a_dep_only_when_the_stage_runs_all_of_it():
    # thz/deploy: a docstring-only __init__.py, graph, onnx_export, onnx_runtime
    deploy = {Path(f"thz/deploy/{m}.py") for m in ("graph", "onnx_export", "onnx_runtime")}
    assert expected_code_deps(deploy | {Path("thz/config.py")}) == {"thz/deploy", "thz/config.py"}
    partly = deploy - {Path("thz/deploy/onnx_runtime.py")}
    assert expected_code_deps(partly) == {"thz/deploy/graph.py", "thz/deploy/onnx_export.py"}
    assert _not_run(Path("thz/deploy"), partly) == ["thz/deploy/onnx_runtime.py"]


def test_the_import_walk_sees_function_level_imports():
    # thz.checkpoint.load_model imports thz.models inside the function (to keep the module light)
    assert Path("thz/models/multitask.py") in imported_files("thz.checkpoint")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_stage_params_are_what_the_variant_reads(variant):
    stage = _stages()[f"train_{variant}"]
    assert sorted(stage["params"]) == sorted(VARIANTS[variant].reads)
    assert f"budget.{variant}" in stage["params"]  # its own budget, and no other model's
    assert not [p for p in stage["params"] if p.startswith("budget") and p != f"budget.{variant}"]


def test_the_eval_section_is_read_by_the_evaluate_stage_only():
    # validation during training never flips: no training stage re-runs when eval changes
    from thz.config import EvalConfig

    readers = {name for name, stage in _stages().items() for p in stage.get("params", []) if p.split(".")[0] == "eval"}
    assert readers == {"evaluate"}
    listed = _stages()["evaluate"]["params"]
    assert "eval" in listed or {f"eval.{f.name}" for f in dataclasses.fields(EvalConfig)} <= set(listed)


def test_the_student_depends_on_its_teacher():
    assert "models/fold_${item}/teacher" in _stages()["train_student"]["deps"]


def test_the_models_evaluated_and_compared_are_the_trained_variants():
    from thz.eval.compare import MODELS

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert MODELS == tuple(VARIANTS) == tuple(stages["evaluate"]["matrix"]["model"])
    assert {f"train_{m}" for m in MODELS} <= set(stages)


def test_the_top_level_plots_read_the_plot_data_stage_s_output():
    """Each top-level plot's files lie in plot_data's output folder (tests/eval/test_plot_data.py
    checks that write_plot_data writes each of them, with the plot's columns)."""
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    (out,) = (next(iter(o)) if isinstance(o, dict) else o for o in dvc_yaml["stages"]["plot_data"]["outs"])
    files = [Path(f) for entry in dvc_yaml["plots"] for plot in entry.values() for f in plot["y"]]
    assert files and all(Path(out) in f.parents for f in files), [str(f) for f in files]
    names = {next(iter(entry)) for entry in dvc_yaml["plots"]}
    assert {"test_roc", "test_roc_log_far", "test_det"} <= names  # the linear ROC kept beside the field's two views
