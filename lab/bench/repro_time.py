"""Wall-clock time of every stage of a `dvc repro`, and the training time inside each training stage.

    python -m lab.bench.repro_time --json lab/records/bench/repro.json          # runs `dvc repro` here
    python -m lab.bench.repro_time --log repro.log --json lab/records/bench/repro.json   # a log written before

With no --log it runs `dvc repro` in the current directory (on a fresh clone: every stage) and
timestamps each line DVC prints; a stage lasts from its "Running stage" line to the next one (the
last to the end of the run), so DVC's own bookkeeping between stages is counted in the stage before.
A --log is such a timestamped log (lines "<unix seconds> <DVC's line>"), as this script writes to
repro.log. DVCLive's train_seconds (and steps, precision) of every training stage are read from
metrics/train/fold_K/<model>/metrics.json. Run it alone on an idle machine
(`../shared/tools/when-idle python -m lab.bench.repro_time ...`): a timing beside other work is not one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from thz.files import atomic_path, write_text
from thz.runtime import cpu_capability, native_bf16

STAGE = re.compile(r"^(?P<t>\d+(\.\d+)?) Running stage '(?P<name>[^']+)'")
STAMP = re.compile(r"^(?P<t>\d+(\.\d+)?) ")


def run_logged(log: Path) -> None:
    """`dvc repro` with every line of its output timestamped into `log` (and echoed); the log
    appears under its name once the run has ended, so a killed run leaves no partial record."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    with atomic_path(log) as tmp, tmp.open("w") as out:
        out.write(f"{time.time():.1f} start\n")
        proc = subprocess.Popen(["dvc", "repro"], stdout=subprocess.PIPE, text=True, env=env)
        for line in proc.stdout:
            out.write(f"{time.time():.1f} {line}")
            out.flush()
            print(line, end="", flush=True)
        code = proc.wait()
        out.write(f"{time.time():.1f} end rc {code}\n")
    if code != 0:
        raise SystemExit(f"dvc repro failed (exit {code}); the log is {log}")


def stage_seconds(lines: list[str]) -> tuple[dict[str, float], float]:
    """Seconds per stage from a timestamped log, and the seconds from the first to the last line."""
    stamps = [(float(m["t"]), STAGE.match(line)) for line in lines if (m := STAMP.match(line))]
    if not stamps:
        raise SystemExit("the log has no timestamped lines")
    starts = [(t, m["name"]) for t, m in stamps if m]
    ends = [t for t, _ in starts[1:]] + [stamps[-1][0]]
    return {name: round(end - t, 1) for (t, name), end in zip(starts, ends, strict=True)}, stamps[-1][0] - stamps[0][0]


def training_summaries(root: Path) -> dict[str, dict]:
    """fold_K/<model> -> DVCLive's train_seconds, steps and the precision the training ran in."""
    found = {}
    for path in sorted(root.glob("metrics/train/fold_*/*/metrics.json")):
        summary = json.loads(path.read_text())
        keys = ("train_seconds", "steps", "precision")
        found[f"{path.parent.parent.name}/{path.parent.name}"] = {k: summary[k] for k in keys if k in summary}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, help="a timestamped log of an earlier run (default: run dvc repro now)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    log = args.log
    if log is None:
        log = Path("repro.log")
        run_logged(log)
    stages, total = stage_seconds(log.read_text().splitlines())
    kinds = defaultdict(float)
    for name, seconds in stages.items():
        kinds[name.split("@")[0]] += seconds
    trained = training_summaries(Path("."))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "date": date.today().isoformat(),
        "commit": commit or "?",  # the code and params that ran: a later default may cost more or less
        "cpu_capability": cpu_capability(),
        "native_bf16": native_bf16(),
        "cores": os.cpu_count(),
        "total_seconds": round(total, 1),
        "seconds_by_kind": {k: round(v, 1) for k, v in kinds.items()},
        "stage_seconds": stages,
        "precision": sorted({t["precision"] for t in trained.values() if "precision" in t}),
        "trainings": trained,
    }
    for kind, seconds in record["seconds_by_kind"].items():
        print(f"{kind:<16} {seconds:>8.1f} s  ({sum(k.split('@')[0] == kind for k in stages)} stages)")
    print(f"{'total':<16} {total:>8.1f} s = {total / 60:.1f} min")
    if args.json:
        write_text(args.json, json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
