"""The files dvc.yaml declares as metrics make one readable `dvc metrics show` table: few small flat
files besides DVCLive's, no list values (DVC shows them as junk columns), no dots in keys (DVC reads
a dot as nesting), and every metric and plot kept in git so a fresh clone has them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from dvc.repo import Repo

from thz.eval.compare import MODELS, PAIRS
from thz.eval.summary import PIXEL

ROOT = Path(__file__).resolve().parents[1]
DVCLIVE = "metrics/train/"  # the train stages' DVCLive logs
MAX_FILES = 8  # besides DVCLive's
MAX_COLUMNS = 32  # "about 30": the union of the files' keys, one column each in `dvc metrics show`


@cache  # loading DVC's index takes seconds; a repository's dvc.yaml does not change under a test
def declared(root: Path) -> dict[str, list]:
    """'metrics' and 'plots' -> the outputs dvc.yaml declares so, every foreach/matrix item resolved."""
    found: dict[str, list] = {"metrics": [], "plots": []}
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            found["metrics"] += [o for o in stage.outs if o.metric]
            found["plots"] += [o for o in stage.outs if o.plot]
    return found


def metric_paths(root: Path) -> list[str]:
    return [o.def_path for o in declared(root)["metrics"]]


def leaves(data, prefix: str = "") -> dict[str, object]:
    """Flattened as DVC flattens it: 'a.b' for data['a']['b']."""
    if not isinstance(data, dict):
        return {prefix: data}
    return {k: v for key, value in data.items() for k, v in leaves(value, f"{prefix}{key}.").items()}


def problems(root: Path) -> list[str]:
    """One line per list value or dotted key in a declared metrics file present under `root`."""
    found = []

    def walk(data, path: str, where: str) -> None:
        if isinstance(data, list):
            found.append(f"{where}: '{path}' is a list")
        elif isinstance(data, dict):
            for key, value in data.items():
                if "." in key:
                    found.append(f"{where}: key '{key}' has a dot")
                walk(value, f"{path}.{key}" if path else key, where)

    for rel in metric_paths(root):
        if (root / rel).is_file():
            walk(json.loads((root / rel).read_text()), "", rel)
    return found


def summary_shape(root: Path) -> tuple[list[str], int, int]:
    """The declared metrics files besides DVCLive's, the most keys in one, and their union of keys."""
    files = [p for p in metric_paths(root) if not p.startswith(DVCLIVE)]
    keys = [set(leaves(json.loads((root / p).read_text()))) for p in files]
    return files, max(map(len, keys)), len(set().union(*keys))


def test_no_metrics_file_holds_a_list_or_a_dotted_key():
    assert problems(ROOT) == []


def test_dvc_metrics_show_is_one_table_of_a_few_narrow_files():
    files, widest, union = summary_shape(ROOT)
    assert len(files) <= MAX_FILES, files
    assert widest <= 30 and union <= MAX_COLUMNS, (widest, union)


def test_the_compare_stage_declares_exactly_the_summary_files_it_writes():
    names = (*MODELS, PIXEL, *(f"{b}_vs_{a}" for a, b in PAIRS))
    expected = {f"metrics/summary/{name}.json" for name in names}
    assert {p for p in metric_paths(ROOT) if not p.startswith(DVCLIVE)} == expected
    assert {f"metrics/summary/{p.name}" for p in (ROOT / "metrics/summary").iterdir()} == expected


def test_every_metric_and_plot_is_kept_in_git():
    """cache: false, so `dvc exp show` and `dvc plots diff` work on a fresh clone with no remote."""
    outputs = declared(ROOT)
    cached = [o.def_path for kind in ("metrics", "plots") for o in outputs[kind] if o.use_cache]
    assert cached == []
    assert any(o.def_path.startswith(DVCLIVE) for o in outputs["plots"])  # DVCLive's curves are among them
