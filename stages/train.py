"""Stages `train_baseline`, `train_teacher` and `train_student`: one variant of the multi-task
network (declared in thz.train.variants), trained on the split's train identities and selected on
its validation identities; writes --out/{best,last}.pt and DVCLive logs in --live. The student also
takes the trained teacher's checkpoint (--teacher). With THZ_NPROC > 1 the stage re-runs itself as
that many torchrun processes (or is started by torchrun directly, e.g. on several nodes); see
thz.distributed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from thz.cli import run
from thz.config import Config, TrainConfig, load_config
from thz.data.dataset import load_pairs
from thz.data.scan import read_manifest
from thz.distributed import Workers, relaunch_under_torchrun, start, stop, under_torchrun
from thz.models import count_parameters
from thz.runtime import Execution, autocast_dtype, cpu_capability, seed_everything
from thz.train.loop import FitResult, fit
from thz.train.tracking import Tracker
from thz.train.variants import VARIANTS, build_objective, with_perceptual


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", choices=list(VARIANTS), required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters file")
    for flag in ("--images", "--out", "--live"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--teacher", type=Path, help="the teacher's best.pt (student only)")
    args = parser.parse_args(argv)
    cfg, execution = load_config(args.params), Execution.from_env()
    if execution.nproc > 1 and not under_torchrun():
        raise SystemExit(relaunch_under_torchrun(execution.nproc))
    workers = start(cfg.train.device, execution.threads)
    try:
        train_variant(args.variant, cfg, args.images, args.out, args.live, args.teacher, workers, execution.resume)
    except KeyboardInterrupt:
        if workers.is_main:
            print(interrupted_message(args.out), file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    stop(workers)  # not after an error: see thz.distributed.stop


def interrupted_message(out: Path) -> str:
    """One line for Ctrl-C: where the last checkpoint is and how to continue from it. Not through
    `dvc repro`, which deletes the stage's outputs, last.pt included, before it runs the command."""
    last = out / "last.pt"
    if not last.is_file():
        return f"interrupted before the first checkpoint: nothing in {out} to resume from"
    command = " ".join(["THZ_RESUME=1", "python", *sys.orig_argv[1:]])
    return (
        f"interrupted: the last checkpoint is {last}; to continue from it, run `{command}`, then `dvc commit` the stage"
    )


def train_variant(
    variant: str,
    cfg: Config,
    images_csv: Path,
    out: Path,
    live: Path | None,
    teacher: Path | None,
    workers,
    resume: bool,
) -> None:
    """Build what the variant trains, load its images, fit it through its plan, log the result."""
    seed_everything(cfg.seed)
    cfg, perceptual = with_perceptual(cfg)
    images = read_manifest(images_csv)
    objective = build_objective(variant, cfg, images, perceptual, teacher)
    model = objective.model
    # what the training batches carry is the objective's to say (a student's teacher reads photos);
    # validation scores the network alone
    train = load_pairs(images, "train", cfg.data.image_size, visible=objective.reads.visible, strict=cfg.data.strict)
    val = load_pairs(images, "val", cfg.data.image_size, visible=model.inputs.visible, strict=cfg.data.strict)
    workers.say(
        f"{variant}: {count_parameters(model) / 1e6:.2f} M parameters; train {len(train)} pairs of "
        f"{len(train.identities)} identities, val {len(val)} pairs of {len(val.identities)}"
    )
    if workers.distributed:  # every rank says it takes part (the distributed test reads these lines)
        share = min(cfg.train.identities_per_batch, len(train.identities)) // workers.world_size
        print(
            f"rank {workers.rank} of {workers.world_size} on {workers.device}, {torch.get_num_threads()} threads: "
            f"{share} identities x {cfg.train.images_per_identity} images of each global batch",
            flush=True,
        )
    declared = VARIANTS[variant]
    tracker = Tracker(live if workers.is_main else None, resume=resume)
    started = time.perf_counter()
    result = fit(
        objective,
        train,
        val,
        cfg.train,
        declared.plan(cfg),
        out,
        params=declared.params(cfg),
        tracker=tracker,
        workers=workers,
        resume=resume,
    )
    if workers.is_main:
        _summarise(variant, cfg.train, result, tracker, time.perf_counter() - started, workers, resume)


def _summarise(
    variant: str, tc: TrainConfig, result: FitResult, tracker: Tracker, seconds: float, workers: Workers, resume: bool
) -> None:
    """The run's summary in DVCLive's metrics.json, and one line of it on the console."""
    precision = autocast_dtype(tc.precision, workers.device) or torch.float32
    tracker.summary(
        {
            f"best/{tc.select_metric}": result.best_metric,
            "best/step": result.best_step,
            "train_seconds": round(seconds, 1),
            "steps": result.steps,
            # what train.precision "auto" resolved to on this machine, and why (thz.runtime)
            "precision": str(precision).removeprefix("torch."),
            "cpu_capability": cpu_capability(),
            # how it ran (thz.runtime.Execution: no param), as numbers: a resume, threads per process, processes
            "execution": {"resume": int(resume), "threads": torch.get_num_threads(), "nproc": workers.world_size},
        }
    )
    tracker.close()
    print(
        f"{variant}: best val {tc.select_metric} {result.best_metric:.4f} at step {result.best_step}; last: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.last_metrics.items() if k in ("ssim", "posture_acc", "auc"))
    )


if __name__ == "__main__":
    run(main)
