"""What a user sees of an experiment through DVC, captured into a record the docs' tables render:
`dvc metrics diff` between HEAD and one experiment (the summary files only) and `dvc exp show`
of HEAD and that experiment (the verdict columns).

    dvc exp run --queue -n no-feature -S distill.feature=0 && dvc queue start -j 1   # once
    python -m lab.dvc_views --exp no-feature --json lab/records/dvc_views.json

An experiment lives in this clone's git refs only, so the docs cannot run these commands each time
they are regenerated (as `dvc metrics show` is, lab.tables.dvc_metrics_show): the record keeps
each command with its exact output, and the tables show it as it was printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from thz.files import write_json

SUMMARY = "metrics/summary"
# `dvc exp show` columns kept (regular expressions DVC matches against whole column names): the
# experiment, the one param changed, and the summary's verdict of the student against the baseline
EXP_SHOW_KEEP = (
    "Experiment",
    "metrics/summary/student_vs_baseline.json:auc_diff",
    "metrics/summary/student_vs_baseline.json:auc_ci_low",
    "metrics/summary/student_vs_baseline.json:auc_ci_high",
    "metrics/summary/student_vs_baseline.json:auc_significant",
    "metrics/summary/student.json:auc",
    "metrics/summary/baseline.json:auc",
)


def _dvc(args: list[str], repo: Path) -> str:
    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.is_file() else "dvc", *args]
    run = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    if run.returncode != 0:
        raise SystemExit(f"`dvc {' '.join(args)}` failed in {repo}: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout.strip()


def capture(repo: Path, experiment: str, param: str) -> dict:
    """The two commands and their output, for `experiment` against HEAD."""
    diff = ["metrics", "diff", "HEAD", experiment, "--targets", SUMMARY, "--md"]
    show = ["exp", "show", "--md", "--no-pager", "--drop", ".*"]
    for column in (*EXP_SHOW_KEEP, *([f"params.yaml:{param}"] if param else [])):
        show += ["--keep", column]
    return {
        "experiment": experiment,
        "date": date.today().isoformat(),
        "commit": _git_head(repo),
        "metrics_diff": {"command": "dvc " + " ".join(diff), "output": _dvc(diff, repo)},
        "exp_show": {"command": "dvc " + " ".join(show), "output": _exp_rows(_dvc(show, repo), experiment)},
    }


def _git_head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def _exp_rows(table: str, experiment: str) -> str:
    """The header, workspace, HEAD and `experiment` rows of `dvc exp show --md` (other experiments
    of this clone are not the record's)."""
    lines = table.splitlines()
    keep = lines[:2] + [line for line in lines[2:] if experiment in line or "workspace" in line or "main" in line]
    return "\n".join(keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", required=True, help="the experiment's name (dvc exp show lists them)")
    parser.add_argument("--param", default="distill.feature", help="the param it changed (a column of exp show)")
    parser.add_argument("--json", type=Path, required=True, help="where the record goes")
    args = parser.parse_args(argv)
    write_json(args.json, capture(Path("."), args.exp, args.param))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
