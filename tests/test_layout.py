"""The layout holds: thz/ is the product (every module in it is run by a DVC stage or by one of the
product's own commands, so a result depends on it), lab/ is everything else that is code (sweeps,
generated tables, bench scripts), imports run one way only (thz <- stages, thz <- lab <- lab.bench,
and tests above all) with no circles, and the layout map in docs/development.md names the tree as
it is."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.imports import PROJECT, ROOT, direct_imports, imported_files, module_name, source_files
from tests.test_dvc_yaml import _stages, stage_module

# The product's commands that are not DVC stages: they run on a stage's outputs (predict) or fetch
# a stage's input (the LPIPS weights: `make lpips-weights`). With the stages they are the roots of
# thz/: a module that none of them runs belongs in lab/ (or tests/), not in the library.
ENTRY_POINTS = ("thz.predict", "thz.losses.perceptual")

# What each top-level package may import, besides itself and third-party code. The lab's library
# (lab/*.py) does not import its scripts (lab/bench/); only tests import tests.
MAY_IMPORT = {"thz": set(), "stages": {"thz"}, "lab": {"thz"}, "tests": {"thz", "stages", "lab"}}


def _graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports by name (function-level imports too)."""
    return {module_name(p): direct_imports(ROOT / p) for top in PROJECT for p in source_files(top)}


def test_every_thz_module_is_run_by_a_stage_or_a_product_command():
    roots = sorted({stage_module(stage) for stage in _stages().values()}) + list(ENTRY_POINTS)
    run = set().union(*(imported_files(root) for root in roots))
    orphans = {p for p in source_files("thz") if p not in run}
    assert not orphans, (
        f"modules of thz/ that no stage and no product command runs (move them to lab/): {sorted(orphans)}"
    )


def test_the_product_commands_are_exactly_the_thz_modules_with_a_main():
    mains = {module_name(p) for p in source_files("thz") if 'if __name__ == "__main__":' in (ROOT / p).read_text()}
    assert mains == set(ENTRY_POINTS)


def test_imports_run_down_the_layers_only():
    wrong = []
    for module, imported in _graph().items():
        top = module.split(".")[0]
        for name in imported:
            other = name.split(".")[0]
            if other != top and other not in MAY_IMPORT[top]:
                wrong.append(f"{module} imports {name}")
            if module.startswith("lab.") and not module.startswith("lab.bench") and name.startswith("lab.bench"):
                wrong.append(f"{module} imports {name} (the lab's library imports none of its scripts)")
    assert not wrong, wrong


def test_no_import_circles():
    graph, done, path, circles = _graph(), set(), [], []

    def visit(module: str) -> None:
        path.append(module)
        for name in sorted(graph.get(module, ())):
            if name in path:
                circles.append(" -> ".join(path[path.index(name) :] + [name]))
            elif name not in done:
                visit(name)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    assert not circles, circles


def test_no_stage_reaches_the_lab():
    for name, stage in _stages().items():
        lab = sorted(str(p) for p in imported_files(stage_module(stage)) if p.parts[0] == "lab")
        assert not lab, f"stage {name} runs lab code {lab}: results would depend on it"


# ---- the layout map in docs/development.md --------------------------------------------------------


def layout_map(text: str) -> tuple[set[Path], set[Path]]:
    """The folders and the modules the map names: the first code block under '## Layout'. An entry
    line is indented by 0, 2, 4 ... (fewer than 12) spaces, two more than the folder it is in; its
    names come first (single spaces between them: folders end in '/', a module in '.py'), then,
    after two spaces or more, the description, which more deeply indented lines continue."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    folders, modules, parents = set(), set(), {}
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= 12:
            continue
        parent = parents.get(indent - 2, Path()) if indent else Path()
        for name in re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split():
            if name.endswith("/"):
                folders.add(parent / name)
                parents[indent] = parent / name
            elif name.endswith(".py"):
                modules.add(parent / name)
            else:
                break
    return folders, modules


def _dvc_output_folders() -> set[Path]:
    """Folders of the outputs dvc.yaml declares (models/, data/...): absent until a repro or pull."""
    text = (ROOT / "dvc.yaml").read_text()
    outs = re.findall(r"^\s*- (models/[^\s:]+|data/[^\s:]+)", text, re.M)
    return {parent for out in outs for parent in Path(out).parents if parent != Path(".")}


def _package_folders() -> set[Path]:
    """Every folder of a package (an __init__.py in it), and every top-level folder git tracks."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tops = {Path(line.split("/")[0]) for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    packages = {p.parent for top in PROJECT for p in source_files(top) if p.name == "__init__.py"}
    return tops | packages


def test_the_layout_map_names_the_tree():
    folders, modules = layout_map((ROOT / "docs/development.md").read_text())
    absent = sorted(str(f) for f in folders if not (ROOT / f).is_dir() and f not in _dvc_output_folders())
    assert not absent, f"docs/development.md's layout names folders that do not exist: {absent}"
    unnamed = sorted(str(f) for f in _package_folders() - folders)
    assert not unnamed, f"docs/development.md's layout does not name these folders: {unnamed}"
    missing = sorted(str(m) for m in modules if not (ROOT / m).is_file())
    assert not missing, f"docs/development.md's layout names modules that do not exist: {missing}"


def test_the_layout_map_reader():
    lines = ["top/         words/ not a folder", "  a.py  x", "  sub/ two/  y", "    deep/  z", "             c/ x"]
    lines.append("b/")
    folders = {Path("top"), Path("top/sub"), Path("top/two"), Path("top/two/deep"), Path("b")}
    assert layout_map("## Layout\n\n```\n" + "\n".join(lines) + "\n```\n") == (folders, {Path("top/a.py")})


def test_readme_is_one_page_without_issue_numbers():
    """The README holds the essentials; history and studies live in docs/."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md over 200 lines: move detail to docs/"
    assert not re.search(r"(?i)\bissues? #?\d+|#\d{2,}\b", text), "README.md names issue numbers"
