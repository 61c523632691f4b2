"""The one training loop of every variant (baseline, teacher, student): the objective hides what
differs between them, the curriculum (thz.train.curriculum) what trains when.

Steps draw identity-balanced batches, augment them on the whole batch, and update with AdamW,
gradient clipping and a warm-up + cosine learning rate that is a pure function of the step.
Every `train.val_every` epochs the model is validated, `last.pt` is written (for resume) and
`best.pt` when the selection metric improves. A non-finite loss stops the run with the step and
every loss part named; the checkpoints already written stay as they were.

The same loop runs as one of several torchrun processes (thz.distributed): each trains on its
share of the global batch, gradients are averaged, and rank 0 alone validates, logs and writes.
On CUDA it runs under mixed precision (train.precision) with batches sent from pinned memory.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from thz.checkpoint import load_checkpoint, save_checkpoint, upgrade_config
from thz.config import Config, ConfigError, TrainConfig, config_to_dict
from thz.data.augment import PROFILES, augment_pair_batch
from thz.data.dataset import PairSet
from thz.data.samplers import check_rank_split, identity_batches, rank_rows
from thz.distributed import Workers, average_gradients, broadcast_modules, mean_over_ranks, share_from_main
from thz.losses.objective import MaskedReconstructionObjective
from thz.losses.reconstruction import ssim_per_sample
from thz.metrics.verification import cosine_pair_scores, verification_metrics
from thz.models.global_batchnorm import convert_batchnorm
from thz.runtime import autocast_dtype, rank_seed, step_seed
from thz.train.curriculum import Phase, apply_phase, plan_phases
from thz.train.tracking import Tracker

HIGHER_IS_BETTER = {"ssim": True, "posture_acc": True, "auc": True, "loss": False}


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and every loss part."""


def lr_at(step: int, total_steps: int, warmup_steps: int, cfg: TrainConfig) -> float:
    """Linear warm-up from 0 to train.lr, then cosine decay to lr * min_lr_ratio (or constant)."""
    if step < warmup_steps:
        return cfg.lr * (step + 1) / warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class FitResult:
    best_metric: float
    best_step: int
    steps: int
    last_metrics: dict[str, float]


def to_device(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """A batch on `device` (from pinned memory, asynchronously, when that is a GPU), images in NHWC
    layout when `channels_last`."""
    out = {}
    for key, value in batch.items():
        if device.type == "cuda":
            value = value.pin_memory().to(device, non_blocking=True)
        if channels_last and value.dim() == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


@torch.no_grad()
def validate(
    model, objective, data: PairSet, batch_size: int = 256, device: torch.device | None = None
) -> dict[str, float]:
    """Validation metrics on a whole part: task loss parts, recon SSIM, posture accuracy (concealed
    inputs), and verification AUC/EER of concealed probes against unconcealed targets. One forward
    pass of inputs and targets per batch, through the task objective (visible images only for a
    teacher: a THz-only network is validated on THz alone)."""
    task = getattr(objective, "task_objective", objective)
    was_training = model.training
    model.eval()
    emb_in, emb_tgt, ssim, correct, losses = [], [], [], 0, defaultdict(float)
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index)
        if device is not None:
            batch = to_device(batch, device, channels_last=False)
        n = len(index)
        out = task.forward(batch)
        emb_in.append(out.emb[:n].float().cpu())
        emb_tgt.append(out.emb[n:].float().cpu())
        ssim.append(ssim_per_sample(out.recon.float(), batch["target"]).cpu())
        correct += int((out.posture_logits[:n].argmax(1) == batch["posture"]).sum())
        for name, value in task.parts(out, batch).items():
            losses[name] += float(value) * n
    model.train(was_training)
    ids = data.identity.numpy()
    scores = cosine_pair_scores(torch.cat(emb_in).numpy(), torch.cat(emb_tgt).numpy())
    verification = verification_metrics(scores.ravel(), (ids[:, None] == ids[None, :]).ravel())
    metrics = {f"loss_{k}" if k != "loss" else "loss": v / len(data) for k, v in losses.items()}
    metrics.update(
        ssim=float(torch.cat(ssim).mean()),
        posture_acc=correct / len(data),
        auc=verification["auc"],
        eer=verification["eer"],
    )
    return metrics


def _phase_objective(phase: Phase, objective, tc: TrainConfig):
    if phase.name == "pretrain":
        return MaskedReconstructionObjective(objective.task_objective, tc.mask_ratio, tc.mask_patch)
    return objective


def _phase_at(step: int, phases: list[Phase], steps_per_epoch: int) -> tuple[int, int, int]:
    """(phase index, first step of the phase, steps in the phase) of a global step."""
    start = 0
    for i, phase in enumerate(phases):
        length = phase.epochs * steps_per_epoch
        if step < start + length or i == len(phases) - 1:
            return i, start, length
        start += length
    raise ValueError("no phases")


def fit(
    model,
    objective,
    train: PairSet,
    val: PairSet,
    cfg: Config,
    out_dir: Path,
    tracker: Tracker | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    phases: list[Phase] | None = None,
    unread: tuple[str, ...] = (),
    workers: Workers | None = None,
) -> FitResult:
    """Train `model` under `objective` through `phases` (default: the curriculum of cfg.train, one
    joint phase of train.epochs unless train.pretrain_epochs/heads_epochs are set); write
    out_dir/last.pt and out_dir/best.pt (best of the last phase). Each phase has its own warm-up
    (at most half the phase) and cosine decay. Modules the objective
    trains besides the model (a distillation projection, a joint teacher) are optimised with it
    and saved in last.pt. `unread` params may change before a resume (see check_resumable).
    `workers`: this process's rank and device (default: the only process, on the CPU); only rank 0
    validates, logs to `tracker`, writes checkpoints and calls `on_checkpoint`."""
    tc = cfg.train
    workers = workers or Workers()
    if workers.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    tracker = tracker if tracker is not None and workers.is_main else Tracker(None)
    check_rank_split(len(train.identities), tc.identities_per_batch, tc.images_per_identity, workers.world_size)
    steps_per_epoch = len(identity_batches(train.identity, tc.identities_per_batch, tc.images_per_identity, 0, 0))
    phases = phases or plan_phases(tc)
    total = sum(p.epochs for p in phases) * steps_per_epoch
    warmup = round(tc.warmup_epochs * steps_per_epoch)
    val_interval = max(1, round(tc.val_every * steps_per_epoch))
    extra = objective.extra_modules() if hasattr(objective, "extra_modules") else {}
    parameters = place_networks(model, objective, tc, workers)
    optimizer = torch.optim.AdamW(parameters, lr=tc.lr, weight_decay=tc.weight_decay)
    dtype = autocast_dtype(tc.precision, workers.device)
    scaler = torch.amp.GradScaler(workers.device.type, enabled=dtype == torch.float16)
    step, best, best_step, metrics = 0, None, -1, {}
    ckpt = _resume_checkpoint(out_dir / "last.pt", workers) if tc.resume else None
    if ckpt is not None:
        check_resumable(upgrade_config(ckpt["config"]), cfg, out_dir / "last.pt", unread)
        model.load_state_dict(ckpt["model"])
        for name, module in extra.items():
            module.load_state_dict(ckpt["extra"][name])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler.is_enabled() and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        step, best, best_step, metrics = ckpt["step"], ckpt["best_metric"], ckpt["best_step"], ckpt["metrics"]
        workers.say(f"resuming from {out_dir / 'last.pt'} at step {step} of {total}")
    broadcast_modules([model, *extra.values()])  # every rank starts from rank 0's weights
    if len(phases) > 1:
        workers.say("curriculum: " + ", ".join(f"{p.name} {p.epochs} epochs" for p in phases))
    profile = PROFILES[cfg.augment.profile]
    running = defaultdict(list)
    bar = tqdm(total=total, initial=step, desc="train", unit="step", mininterval=1.0, disable=not workers.is_main)
    while step < total:
        index, phase_start, phase_steps = _phase_at(step, phases, steps_per_epoch)
        phase, phase_warmup = phases[index], min(warmup, phase_steps // 2)
        model.train()
        apply_phase(model, phase)
        epoch = step // steps_per_epoch
        batches = identity_batches(train.identity, tc.identities_per_batch, tc.images_per_identity, cfg.seed, epoch)
        parts = train_step(
            model,
            _phase_objective(phase, objective, tc),
            optimizer,
            train.batch(batches[step % steps_per_epoch]),
            profile,
            cfg,
            step,
            lr_at(step - phase_start, phase_steps, phase_warmup, tc),
            parameters,
            workers,
            scaler,
        )
        for name, value in parts.items():
            running[name].append(value)
        step += 1
        bar.update(1)
        bar.set_postfix(
            {k: f"{np.mean(v[-20:]):.3f}" for k, v in running.items() if k in ("loss", "supcon", "posture", "recon")}
        )
        if (step % val_interval == 0 or step == total) and workers.is_main:
            metrics = validate(model, objective, val, device=workers.device)
            score = metrics[tc.select_metric]
            better = best is None or (score > best if HIGHER_IS_BETTER[tc.select_metric] else score < best)
            if index == len(phases) - 1 and better:
                best, best_step = score, step
                save_checkpoint(
                    out_dir / "best.pt",
                    model=_cpu_state(model),
                    config=config_to_dict(cfg),
                    modalities=list(model.modalities),
                    step=step,
                    metrics=metrics,
                )
            tracker.log(
                step,
                {
                    **{f"train/{k}": float(np.mean(v)) for k, v in running.items()},
                    **{f"val/{k}": v for k, v in metrics.items()},
                    "lr": lr_at(step - 1 - phase_start, phase_steps, phase_warmup, tc),
                    "phase": float(index),
                },
            )
            running.clear()
            save_checkpoint(
                out_dir / "last.pt",
                model=_cpu_state(model),
                extra={name: _cpu_state(module) for name, module in extra.items()},
                optimizer=optimizer.state_dict(),
                scaler=scaler.state_dict() if scaler.is_enabled() else None,
                config=config_to_dict(cfg),
                modalities=list(model.modalities),
                step=step,
                best_metric=best,
                best_step=best_step,
                metrics=metrics,
            )
            if on_checkpoint is not None:
                on_checkpoint(step)
    bar.close()
    return FitResult(best_metric=best, best_step=best_step, steps=step, last_metrics=metrics)


def place_networks(model, objective, tc: TrainConfig, workers: Workers) -> list[torch.nn.Parameter]:
    """Put every network the objective runs (a frozen teacher and the LPIPS network too) on the
    device, in NHWC layout when train.channels_last, with global BatchNorm when distributed;
    return the trained parameters (the model's, then the objective's extra modules')."""
    extra = objective.extra_modules() if hasattr(objective, "extra_modules") else {}
    networks = objective.networks() if hasattr(objective, "networks") else {"model": model}
    for module in networks.values():
        if workers.distributed:
            convert_batchnorm(module)
        module.to(workers.device)
        if tc.channels_last:
            module.to(memory_format=torch.channels_last)
    return list(model.parameters()) + [p for m in extra.values() for p in m.parameters()]


def _cpu_state(module) -> dict[str, torch.Tensor]:
    """A state dict on the CPU (so a checkpoint written on a GPU loads anywhere)."""
    state = module.state_dict()
    for key, value in state.items():
        if value.device.type != "cpu":
            state[key] = value.detach().cpu()
    return state


def _resume_checkpoint(path: Path, workers: Workers) -> dict | None:
    """last.pt as rank 0 reads it, on every rank (other nodes need not see rank 0's disk); None
    when there is none yet."""
    ckpt = None
    if workers.is_main:
        if path.exists():
            ckpt = load_checkpoint(path)
        else:
            print(f"train.resume is true but {path} does not exist: training from step 0", flush=True)
    return share_from_main(ckpt)


# how a run is executed, not what it computes (a different nproc changes only the dropout draws;
# train.device is not here: with precision auto it decides fp32 or mixed precision)
RESUME_MAY_DIFFER = {"train.resume", "train.threads", "train.nproc"}


def check_resumable(stored: dict, cfg: Config, path: Path, unread: tuple[str, ...] = ()) -> None:
    """Refuse to resume under settings that would make the continued run a different run.
    `unread`: sections or dotted keys this run does not read (the teacher ignores distill.*)."""
    current = config_to_dict(cfg)
    differ = [
        f"{section}.{key}"
        for section, values in current.items()
        if isinstance(values, dict) and section not in unread
        for key, value in values.items()
        if f"{section}.{key}" not in RESUME_MAY_DIFFER | set(unread) and stored.get(section, {}).get(key) != value
    ]
    differ += [key for key, value in current.items() if not isinstance(value, dict) and stored.get(key) != value]
    if differ:
        raise ConfigError(f"{path}: cannot resume, these params differ from the interrupted run: {', '.join(differ)}")


def train_step(
    model,
    objective,
    optimizer,
    batch,
    profile,
    cfg: Config,
    step: int,
    lr: float,
    parameters=None,
    workers: Workers | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One optimisation step on the global batch `batch` (this rank's share of it when
    distributed); returns every loss part as a float, averaged over ranks. `parameters`: what is
    clipped and averaged (default: the model's; the optimiser may hold more, e.g. a distillation
    projection). `scaler`: the fp16 gradient scaler (None or disabled otherwise)."""
    workers = workers or Workers()
    # dropout and masking: the same at this step whatever ran before (a resumed run repeats an
    # uninterrupted one); each rank draws its own
    torch.manual_seed(rank_seed(cfg.seed, step, workers.rank))
    generator = torch.Generator().manual_seed(step_seed(cfg.seed, step))
    batch = augment_pair_batch(batch, profile, generator, speckle=cfg.augment.speckle)  # the same on every rank
    if workers.distributed:
        rows = rank_rows(len(batch["input"]), cfg.train.images_per_identity, workers.world_size, workers.rank)
        batch = {key: value[rows] for key, value in batch.items()}
    batch = to_device(batch, workers.device, cfg.train.channels_last)
    for group in optimizer.param_groups:
        group["lr"] = lr
    dtype = autocast_dtype(cfg.train.precision, workers.device)
    with torch.autocast(workers.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        parts = objective(batch)
    names = list(parts)
    values = mean_over_ranks(torch.stack([parts[k].detach().float().to(workers.device) for k in names]))
    logged = dict(zip(names, values.tolist(), strict=True))
    if not math.isfinite(logged["loss"]):
        detail = ", ".join(f"{k}={v:.4g}" for k, v in logged.items())
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: {detail}. Checkpoints written before this "
            "step are kept; lower train.lr or check the data."
        )
    scaler = scaler or torch.amp.GradScaler(workers.device.type, enabled=False)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(parts["loss"]).backward()
    parameters = list(model.parameters()) if parameters is None else parameters
    average_gradients(parameters)
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(parameters, cfg.train.grad_clip or float("inf"))
    if not torch.isfinite(norm) and not scaler.is_enabled():  # fp16: the scaler skips this step
        detail = ", ".join(f"{k}={v:.4g}" for k, v in logged.items())
        raise NonFiniteLossError(
            f"non-finite gradient at step {step} (loss parts: {detail}); the weights were "
            "not updated and checkpoints written before this step are kept."
        )
    scaler.step(optimizer)
    scaler.update()
    return logged
