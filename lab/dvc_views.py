"""What a user sees of an experiment through DVC, captured into a record the docs' tables render:
`dvc metrics diff` between the commit an experiment ran on and the experiment (the summary files
only), and `dvc exp show` of that commit and the experiment (the verdict columns).

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

from lab.experiments import baseline_of, experiment_refs
from thz.files import write_json

SUMMARY = "metrics/summary"
# `dvc exp show` columns kept (regular expressions DVC matches against whole column names): the
# experiment, the one param changed, and the summary's verdict of the student against the baseline
EXP_SHOW_KEEP = (
    "Experiment",
    "metrics/summary/baseline.json:auc$",
    "metrics/summary/student.json:auc$",
    "metrics/summary/student_vs_baseline.json:auc_diff$",
    "metrics/summary/student_vs_baseline.json:auc_significant$",
)


def _dvc(args: list[str], repo: Path) -> str:
    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.is_file() else "dvc", *args]
    run = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    if run.returncode != 0:
        raise SystemExit(f"`dvc {' '.join(args)}` failed in {repo}: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout.strip()


def capture(repo: Path, experiment: str, param: str) -> dict:
    """The two commands and their output, for `experiment` against the commit it ran on."""
    refs = experiment_refs(repo)
    if experiment not in refs:
        raise SystemExit(f"no experiment named '{experiment}' in {repo} (dvc exp show -A lists them)")
    base = baseline_of(refs[experiment])[:7]
    diff = ["metrics", "diff", base, experiment, "--targets", SUMMARY, "--md"]
    show = ["exp", "show", "--rev", base, "--md", "--no-pager", "--drop", ".*"]
    for column in (*EXP_SHOW_KEEP[:1], f"{param}$", *EXP_SHOW_KEEP[1:]):
        show += ["--keep", column]
    return {
        "experiment": experiment,
        "date": date.today().isoformat(),
        "commit": base,
        "metrics_diff": {"command": "dvc " + " ".join(diff), "output": _dvc(diff, repo)},
        "exp_show": {
            "command": "dvc " + " ".join(map(_quoted, show)),
            "output": _exp_rows(_dvc(show, repo), experiment, base),
        },
    }


def _quoted(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in "*$") else arg


def _exp_rows(table: str, experiment: str, base: str) -> str:
    """The header, the commit's and `experiment`'s rows of `dvc exp show --md` (the other
    experiments of this clone are not the record's)."""
    lines = table.splitlines()
    keep = lines[:2] + [line for line in lines[2:] if experiment in line or base in line]
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
