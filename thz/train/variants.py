"""What the three training stages share: read params and the split, build the variant's network
and objective, run the one training loop, log to DVCLive, print the result. With THZ_NPROC > 1
the stage re-runs itself as that many torchrun processes (or is started by torchrun directly, e.g.
on several nodes); see thz.distributed.

- baseline: the THz-only network with the task objective;
- teacher: the same network plus a visible encoder and cross-attention fusion, on THz + visible
  images (samples lacking a visible image are named and refused, or left out when data.strict is
  false), in one joint phase of teacher.epochs (no curriculum: its train.* keys are the others);
- student: the baseline architecture with the task objective plus distillation from the trained
  teacher. Only its training set carries visible images (for the teacher), so with data.strict
  false it trains on the samples that have them; it is validated, like every THz-only network,
  on THz images alone.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

from thz.checkpoint import load_model
from thz.config import Config, ConfigError, TrainConfig, config_to_dict, load_config
from thz.data.dataset import load_pairs
from thz.data.scan import read_manifest
from thz.distributed import relaunch_under_torchrun, start, stop, under_torchrun
from thz.losses.objective import DistillationObjective, MultiTaskObjective
from thz.losses.perceptual import build_perceptual_loss
from thz.models import build_model, count_parameters
from thz.runtime import Execution, autocast_dtype, cpu_capability, seed_everything
from thz.train.curriculum import Phase
from thz.train.loop import fit
from thz.train.tracking import Tracker

# What each variant reads from params.yaml: the one declaration, from which dvc.yaml's params of
# train_<variant> follow (tests/test_dvc_params.py) and what a resume may change. The teacher has
# teacher.epochs and no curriculum, so the student's epochs and curriculum never retrain it.
TASK = ("seed", "data", "model", "loss", "augment")
NOT_READ_BY_TEACHER = ("epochs", "pretrain_epochs", "heads_epochs", "mask_ratio", "mask_patch")
READS = {
    "baseline": (*TASK, "train"),
    "teacher": (*TASK, "teacher", *(f"train.{f.name}" for f in dataclasses.fields(TrainConfig))),
    "student": (*TASK, "train", "distill"),
}
READS["teacher"] = tuple(k for k in READS["teacher"] if k.removeprefix("train.") not in NOT_READ_BY_TEACHER)
VARIANTS = tuple(READS)


def dotted_keys(entries: tuple[str, ...]) -> set[str]:
    """Sections and dotted keys as the set of dotted keys they cover (a top-level key stays itself)."""
    sections = config_to_dict(Config())
    keys = set()
    for entry in entries:
        value = sections.get(entry)
        keys |= {f"{entry}.{k}" for k in value} if isinstance(value, dict) else {entry}
    return keys


def unread(variant: str) -> tuple[str, ...]:
    """Keys another variant reads and this one does not: they may change before this one resumes."""
    others = set().union(*(dotted_keys(READS[v]) for v in VARIANTS if v != variant))
    return tuple(sorted(others - dotted_keys(READS[variant])))


def train_variant(
    variant: str, params: Path, images_csv: Path, out: Path, live: Path | None, teacher: Path | None = None
) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    cfg, execution = load_config(params), Execution.from_env()
    if execution.nproc > 1 and not under_torchrun():
        raise SystemExit(relaunch_under_torchrun(execution.nproc))
    workers = start(cfg.train.device, execution.threads)
    try:
        _train(variant, cfg, images_csv, out, live, teacher, workers, execution.resume)
    except KeyboardInterrupt:
        if workers.is_main:
            print(interrupted_message(out), file=sys.stderr, flush=True)
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


def _train(
    variant: str, cfg, images_csv: Path, out: Path, live: Path | None, teacher: Path | None, workers, resume: bool
) -> None:
    seed_everything(cfg.seed)
    perceptual = build_perceptual_loss() if cfg.loss.lpips > 0 else None
    if perceptual is None and cfg.loss.lpips > 0:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, lpips=0.0))  # recorded as off
    model = build_model(cfg.model, cfg.teacher if variant == "teacher" else None)
    images = read_manifest(images_csv)
    identities = images.identity[images.split == "train"].nunique()  # a margin softmax's classes
    objective = MultiTaskObjective(model, cfg.loss, perceptual, identities)
    if variant == "student":
        objective = _distillation(objective, cfg, teacher)
    # the teacher reads visible images, and so does the student's frozen teacher (in its own format)
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
    if not workers.is_main:
        live = None
    phases = [Phase("joint", cfg.teacher.epochs, ())] if variant == "teacher" else None  # None: train.* curriculum
    tracker = Tracker(live, resume=resume)
    started = time.perf_counter()
    result = fit(
        objective,
        train,
        val,
        cfg,
        out,
        phases=phases,
        unread=unread(variant),
        resume=resume,
        tracker=tracker,
        workers=workers,
    )
    if not workers.is_main:
        return
    precision = autocast_dtype(cfg.train.precision, workers.device) or torch.float32
    tracker.summary(
        {
            f"best/{cfg.train.select_metric}": result.best_metric,
            "best/step": result.best_step,
            "train_seconds": round(time.perf_counter() - started, 1),
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
        f"{variant}: best val {cfg.train.select_metric} {result.best_metric:.4f} at step {result.best_step}; last: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.last_metrics.items() if k in ("ssim", "posture_acc", "auc"))
    )


def _distillation(task: MultiTaskObjective, cfg: Config, teacher_path: Path | None) -> DistillationObjective:
    if teacher_path is None:
        raise ConfigError(
            "the student needs the trained teacher's checkpoint (--teacher models/fold_K/teacher/best.pt)"
        )
    try:
        teacher, teacher_cfg = load_model(teacher_path)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"cannot load the teacher: {err} (run stage train_teacher first)") from None
    if teacher.inputs.visible is None:
        raise ConfigError(f"{teacher_path}: not a teacher checkpoint (it takes THz images only)")
    if teacher_cfg.data.image_size != cfg.data.image_size:
        raise ConfigError(
            f"{teacher_path}: the teacher was trained on {teacher_cfg.data.image_size} px images, "
            f"data.image_size is {cfg.data.image_size}"
        )
    if teacher_cfg.model.scored_dim != cfg.model.scored_dim and cfg.distill.identity_centre > 0:
        raise ConfigError(
            f"{teacher_path}: teacher embeddings have {teacher_cfg.model.scored_dim} dimensions, the student's "
            f"{cfg.model.scored_dim} (model.embedding_dim, model.twin_head); distill.identity_centre compares "
            "them directly (set it to 0 or retrain)"
        )
    return DistillationObjective(task, teacher, cfg.distill)
