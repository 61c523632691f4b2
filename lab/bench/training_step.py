"""Step time of the real training step of each variant, per precision and compilation, beside this
machine's own matmul rate: how close to the CPU's limit each setting runs, and what each lever buys.

    python -m lab.bench.training_step                          # every variant x setting, fresh processes
    python -m lab.bench.training_step --variants baseline --settings fp32 bf16
    python -m lab.bench.training_step --json lab/records/bench/training_step.json

A step is thz.train.loop.train_step exactly as training runs it (augmentation of the P x K batch,
forward and backward of the concealed inputs and their targets, the variant's losses, AdamW) on
synthetic 64 px images at the default parameters (LPIPS off, as on a machine without its weights).
The student's step includes its frozen teacher's forward pass. Each (variant, setting) runs in a
fresh process; the median of `--steps` steps after `--warmup` is printed, with achieved GFLOP/s
(counted by torch.utils.flop_counter on one step) against the fp32 and bf16 1024x1024 matmul rates
of this machine, and for `compile` the one-off compile time (first steps minus their median cost).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from lab.bench.throughput import matmul_gflops
from lab.random_pairs import make_pairset
from thz.config import Config, LossConfig
from thz.data.samplers import identity_batches
from thz.files import write_text
from thz.losses.objective import DistillationObjective, MultiTaskObjective
from thz.models import build_model
from thz.runtime import cpu_capability, native_bf16
from thz.train.curriculum import Plan
from thz.train.loop import Run, train_step

# student_every_image: the student distilling on every image of the batch (distill.full_triplet true,
# the default until 2026-11-30), against the default on the concealed inputs only
VARIANTS = ("baseline", "teacher", "student", "student_every_image")
SETTINGS = {  # name: (train.precision, torch.compile)
    "fp32": ("fp32", False),
    "bf16": ("bf16", False),
    "compile": ("fp32", True),
}


def objective_of(variant: str, cfg: Config):
    model = build_model(cfg.model, cfg.teacher if variant == "teacher" else None)
    task = MultiTaskObjective(model, cfg.loss)
    if not variant.startswith("student"):
        return task
    distill = dataclasses.replace(cfg.distill, full_triplet=variant == "student_every_image")
    return DistillationObjective(task, build_model(cfg.model, cfg.teacher), distill)


def worker(variant: str, setting: str, steps: int, warmup: int) -> dict:
    precision, compiled = SETTINGS[setting]
    cfg = Config()
    cfg = dataclasses.replace(
        cfg, loss=LossConfig(lpips=0.0), train=dataclasses.replace(cfg.train, precision=precision)
    )
    p, k = cfg.train.identities_per_batch, cfg.train.images_per_identity
    torch.manual_seed(0)
    objective = objective_of(variant, cfg)
    data = make_pairset(identities=p * 2, postures=5, samples=k, size=64, seed=0, visible=objective.reads.visible)
    run = Run.start(objective, cfg.train, Plan.of(cfg.budget.baseline, cfg.seed, cfg.augment))
    if compiled:
        objective.model.compile()
    objective.model.train()
    batches = identity_batches(data.identity, p, k, seed=0, epoch=0)
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        train_step(objective, data.batch(batches[step % len(batches)]), step, 1e-4, run)
        times.append(time.perf_counter() - started)
    median = statistics.median(times[warmup:])
    with FlopCounterMode(display=False) as counter:
        train_step(objective, data.batch(batches[0]), 0, 1e-4, run)
    return {
        "variant": variant,
        "setting": setting,
        "median_step_s": round(median, 4),
        "images_per_s": round(2 * p * k / median, 1),
        "achieved_gflops": round(counter.get_total_flops() / median / 1e9, 1),
        "warmup_overhead_s": round(sum(times[:warmup]) - warmup * median, 1),
    }


def run_fresh(variant: str, setting: str, args) -> dict | None:
    command = [sys.executable, "-m", __spec__.name, "--worker", variant, setting]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(f"{variant} {setting}: failed ({done.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(lines[0][7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "SETTING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker, args.steps, args.warmup)), flush=True)
        return
    machine = {
        "date": date.today().isoformat(),
        "cpu_capability": cpu_capability(),
        "native_bf16": native_bf16(),
        "threads": torch.get_num_threads(),
        "matmul_fp32_gflops": round(matmul_gflops(dtype=torch.float32), 1),
        "matmul_bf16_gflops": round(matmul_gflops(dtype=torch.bfloat16), 1),
    }
    print(", ".join(f"{k} {v}" for k, v in machine.items()))
    print(f"median of {args.steps} steps after {args.warmup}, batch 8 x 4 pairs (64 THz images a step)")
    print("variant              setting  step (s)  images/s  GFLOP/s  first-steps overhead (s)")
    results = []
    for variant in args.variants:
        for setting in args.settings:
            r = run_fresh(variant, setting, args)
            if r is None:
                continue
            results.append(r)
            print(
                f"{variant:<20} {setting:<8} {r['median_step_s']:>8.3f}  {r['images_per_s']:>8.1f}"
                f"  {r['achieved_gflops']:>7.1f}  {r['warmup_overhead_s']:>8.1f}",
                flush=True,
            )
    if args.json:
        write_text(args.json, json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
