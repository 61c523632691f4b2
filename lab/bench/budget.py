"""How many epochs does a model need? Test quality of one variant on one fold against its training
budget, to choose the default budget by measurement.

    python -m lab.bench.budget --runs 8 12 14 16 30 14:train.images_per_identity=2 --json lab/records/bench/budget.json
    python -m lab.bench.budget --variant student --fold 1 --runs 12:train.precision=fp32

Each run, EPOCHS[:KEY=VALUE,...], is a fresh training of the real stage (`python -m stages.train`)
on the fold's train identities (params.yaml with budget.<model>.epochs of every model and the keys
given changed), then the
real evaluate stage on the fold's test identities. Run it after `dvc repro split` (it reads
data/split/fold_K/images.csv), alone on an idle machine: the seconds are DVCLive's train_seconds.
A student needs the fold's trained teacher (models/fold_K/teacher/best.pt).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import yaml

from lab.table_parts import value
from thz.files import write_text
from thz.runtime import cpu_capability, native_bf16

REPORTED = {  # name -> dotted key in the evaluate stage's metrics.json
    "auc": "verification.probe_gallery.auc",
    "eer": "verification.probe_gallery.eer",
    "tar_at_far_1pct": "verification.probe_gallery.tar_at_far_1pct",
    "posture_accuracy": "posture.accuracy",
    "ssim": "reconstruction.predicted.ssim",
}


def parse_run(text: str) -> tuple[int, list[str]]:
    """'14:train.lr=0.003,train.images_per_identity=2' -> (14, ['train.lr=0.003', ...])."""
    epochs, _, settings = text.partition(":")
    if not epochs.isdigit():
        raise SystemExit(f"--runs {text}: expected EPOCHS[:KEY=VALUE,...]")
    return int(epochs), [s for s in settings.split(",") if s]


def params_with(base: Path, epochs: int, settings: list[str]) -> dict:
    params = yaml.safe_load(base.read_text())
    for budget in params["budget"].values():
        budget["epochs"] = epochs
    for setting in settings:
        key, _, text = setting.partition("=")
        *path, name = key.split(".")
        section = params
        for part in path:
            section = section.get(part) if isinstance(section, dict) else None
        if not isinstance(section, dict) or name not in section:
            raise SystemExit(f"--runs: params.yaml has no '{key}' (in {setting})")
        section[name] = yaml.safe_load(text)
    return params


def run_budget(variant: str, fold: int, epochs: int, settings: list[str], work: Path) -> dict:
    run = work / f"{variant}_{len(list(work.iterdir()))}"
    run.mkdir(parents=True)
    params = run / "params.yaml"
    params.write_text(yaml.safe_dump(params_with(Path("params.yaml"), epochs, settings)))
    images = f"data/split/fold_{fold}/images.csv"
    train = [sys.executable, "-m", "stages.train", "--variant", variant, "--params", str(params), "--images", images]
    train += ["--out", str(run / "model"), "--live", str(run / "live")]
    if variant == "student":
        train += ["--teacher", f"models/fold_{fold}/teacher/best.pt"]
    subprocess.run(train, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    evaluate = [sys.executable, "-m", "stages.evaluate", "--params", str(params), "--model", str(run / "model/best.pt")]
    evaluate += ["--images", images, "--out", str(run / "eval")]
    subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL)
    live = json.loads((run / "live/metrics.json").read_text())
    rel = str(run / "eval/metrics.json")
    metrics = json.loads(Path(rel).read_text())
    return {
        "epochs": epochs,
        "settings": settings,
        "steps": live["steps"],
        "train_seconds": live["train_seconds"],
        "precision": live["precision"],
        **{name: round(float(value(metrics, key, rel)), 4) for name, key in REPORTED.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=("baseline", "teacher", "student"), default="baseline")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--runs", nargs="+", default=["8", "12", "14", "16", "30"], metavar="EPOCHS[:KEY=VALUE,...]")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    machine = {"date": date.today().isoformat(), "cpu_capability": cpu_capability(), "native_bf16": native_bf16()}
    runs = [parse_run(text) for text in args.runs]
    print(f"{args.variant} on fold {args.fold} ({machine}), params.yaml except the settings shown")
    print("epochs  steps  train s  precision   AUC    EER  TAR@1%  posture   SSIM  settings")
    results = []
    with tempfile.TemporaryDirectory() as work:
        for epochs, settings in runs:
            r = run_budget(args.variant, args.fold, epochs, settings, Path(work))
            results.append(r)
            print(
                f"{r['epochs']:>6} {r['steps']:>6} {r['train_seconds']:>8.1f}  {r['precision']:<9} {r['auc']:.3f}  "
                f"{r['eer']:.3f}   {r['tar_at_far_1pct']:.3f}    {r['posture_accuracy']:.3f}  {r['ssim']:.3f}  "
                f"{', '.join(settings)}",
                flush=True,
            )
    if args.json:
        record = {"variant": args.variant, "fold": args.fold, "machine": machine}
        write_text(args.json, json.dumps({**record, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
