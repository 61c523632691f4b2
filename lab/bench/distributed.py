"""Training throughput of data-parallel processes on this CPU: the same global batch split over 1 or
2 torchrun processes (gloo), against one process using the same cores.

    python -m lab.bench.distributed                # 1 process x 2 threads, 2 processes x 1 thread, 1 x 1
    python -m lab.bench.distributed --steps 40 --setting parity

Each configuration runs in fresh processes: the default network (or the published-size one) takes
`--steps` optimisation steps of the real training step (thz.train.loop.train_step: augmentation of the
global batch, this rank's share, forward and backward, gradient all-reduce, AdamW) on synthetic
64 px images, after `--warmup` steps. Prints the median step time, THz images per second (a step
pushes P x K concealed inputs plus their targets through the network) and the peak resident memory
of rank 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from lab.random_pairs import make_pairset
from thz.config import Config, LossConfig, ModelConfig, TrainConfig
from thz.data.samplers import identity_batches
from thz.distributed import start, stop
from thz.losses.objective import MultiTaskObjective
from thz.models import build_model
from thz.train.curriculum import Plan
from thz.train.loop import Run, train_step

SETTINGS = {"default": ModelConfig(), "parity": ModelConfig(width=64, moe_routing="oracle")}
CONFIGURATIONS = [(1, 2), (2, 1), (1, 1)]  # (processes, threads per process)


def worker(setting: str, steps: int, warmup: int, p: int, k: int) -> None:
    """One rank: time `steps` training steps; rank 0 prints a JSON line."""
    workers = start("cpu", threads=int(os.environ.get("BENCH_THREADS", "0")))
    cfg = dataclasses.replace(
        Config(),
        model=SETTINGS[setting],
        loss=LossConfig(lpips=0.0),
        train=TrainConfig(identities_per_batch=p, images_per_identity=k),
    )
    data = make_pairset(identities=p * 2, postures=5, samples=k, size=64, seed=0)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    objective = MultiTaskObjective(model, cfg.loss)
    run = Run.start(objective, cfg.train, Plan.of(cfg.budget.baseline, cfg.seed, cfg.augment), workers)
    model.train()
    batches = identity_batches(data.identity, p, k, seed=0, epoch=0)
    times = []
    for step in range(warmup + steps):
        batch = data.batch(batches[step % len(batches)])
        started = time.perf_counter()
        train_step(objective, batch, step, 1e-4, run)
        times.append(time.perf_counter() - started)
    if workers.is_main:
        median = statistics.median(times[warmup:])
        result = {
            "processes": workers.world_size,
            "threads": torch.get_num_threads(),
            "median_step_s": round(median, 4),
            "images_per_s": round(2 * p * k / median, 1),
            "peak_rss_gb_rank0": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        }
        print("RESULT " + json.dumps(result), flush=True)
    stop(workers)


def launch(processes: int, threads: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), BENCH_THREADS=str(threads))
    script = ["-m", __spec__.name, "--worker", "--setting", args.setting]  # torchrun takes -m as python does
    script += [
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--identities-per-batch",
        str(args.p),
        "--images-per-identity",
        str(args.k),
    ]
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
        command += script
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--identities-per-batch", dest="p", type=int, default=8, help="P of the global batch")
    parser.add_argument("--images-per-identity", dest="k", type=int, default=4, help="K (torchrun claims short flags)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.setting, args.steps, args.warmup, args.p, args.k)
        return
    print(f"{args.setting} network, global batch {args.p} x {args.k}, {os.cpu_count()} cores, median of {args.steps}")
    print("processes  threads  step (s)  images/s  peak RSS rank 0 (GB)")
    for processes, threads in CONFIGURATIONS:
        r = launch(processes, threads, args)
        print(
            f"{r['processes']:>9}  {r['threads']:>7}  {r['median_step_s']:>8.3f}  {r['images_per_s']:>8.1f}"
            f"  {r['peak_rss_gb_rank0']:>8.2f}"
        )


if __name__ == "__main__":
    main()
