"""Queue a sweep's variants as DVC experiments, then turn the finished ones into one table.

    python bench/sweep.py queue bench/sweeps/objectives.yaml            # every variant
    python bench/sweep.py queue bench/sweeps/objectives.yaml --only instance
    dvc queue start -j 1                                                 # one worker on 2 cores
    python bench/sweep.py table bench/sweeps/objectives.yaml --json metrics/sweeps/objectives.json

`queue` runs `dvc exp run --queue --name <sweep>-<variant> -S ...` with the evaluate stages of the
sweep's models as targets (commit first: an experiment starts from HEAD plus the workspace). `table`
reads each experiment's evaluations from its git ref (thz.eval.sweep) and writes fold means, sd and
paired differences against the reference variant; variants without a finished experiment are listed
under "missing" and make the command exit 1, so a lost experiment is never read as "no effect".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thz.eval.sweep import copy_figures, experiment_refs, read_sweep, summarise  # noqa: E402
from thz.files import write_json  # noqa: E402
from thz.runtime import cpu_capability  # noqa: E402


def queue(spec: Path, only: list[str]) -> None:
    sweep = read_sweep(spec)
    unknown = sorted(set(only) - set(sweep.variants))
    if unknown:
        raise SystemExit(f"--only: {unknown} not in {spec} (variants: {list(sweep.variants)})")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = experiment_refs(Path("."))
    for variant in only or sweep.variants:
        if sweep.experiment(variant) in done:
            print(
                f"skipped {sweep.experiment(variant)}: it exists ({done[sweep.experiment(variant)]}); "
                "`dvc exp remove` it to run it again",
                flush=True,
            )
            continue
        args = ["dvc", "exp", "run", "--queue", "--name", sweep.experiment(variant)]
        for setting in sweep.settings(variant):
            args += ["-S", setting]
        subprocess.run(args + sweep.targets(variant), check=True, env=env)
        print(f"queued {sweep.experiment(variant)}: {' '.join(sweep.settings(variant))}", flush=True)


def table(spec: Path, out: Path) -> int:
    sweep = read_sweep(spec)
    result = summarise(sweep, Path("."))
    result["figures"] = copy_figures(sweep, Path("."), [v for v in sweep.variants if v in result["variants"]])
    result.update(date=date.today().isoformat(), cpu_capability=cpu_capability(), spec=str(spec))
    write_json(out, result)
    for variant, reason in result["missing"].items():
        print(f"MISSING {variant}: {reason}", file=sys.stderr)
    print(f"{len(result['variants'])} of {len(sweep.variants)} variants in {out}")
    return 1 if result["missing"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue")
    q.add_argument("spec", type=Path)
    q.add_argument("--only", nargs="*", default=[])
    t = sub.add_parser("table")
    t.add_argument("spec", type=Path)
    t.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "queue":
        queue(args.spec, args.only)
        return 0
    return table(args.spec, args.json)


if __name__ == "__main__":
    sys.exit(main())
