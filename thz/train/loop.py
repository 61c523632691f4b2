"""The one training loop of every variant (baseline, teacher, student): the objective hides what
differs between them (thz.losses.objective.Objective), the plan (thz.train.curriculum) what trains
when and on which batches.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from thz.checkpoint import CheckpointError, save_checkpoint
from thz.config import TrainConfig
from thz.data.augment import PROFILES, AugmentProfile, augment_pair_batch
from thz.data.dataset import PairSet
from thz.data.samplers import batch_notices, check_rank_split, epoch_batches, rank_rows
from thz.distributed import Workers, average_gradients, broadcast_modules, mean_over_ranks
from thz.eval.predictions import predict, to_device
from thz.files import remove_leftovers
from thz.losses.objective import MaskedReconstructionObjective, Objective
from thz.losses.reconstruction import ssim_per_sample
from thz.metrics.verification import verification_metrics
from thz.models.global_batchnorm import convert_batchnorm
from thz.runtime import autocast_dtype, rank_seed, step_seed
from thz.train.curriculum import Phase, Plan, apply_phase
from thz.train.resume import Params, check_resumable, read_last
from thz.train.tracking import Tracker

HIGHER_IS_BETTER = {"ssim": True, "posture_acc": True, "auc": True, "loss": False}  # train.select_metric
SHOWN = ("loss", "supcon", "instance", "posture", "recon", "adversarial", "discriminator")  # on the progress bar


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


@dataclass
class Run:
    """What every step of one training run shares: the objective, the training config and the plan,
    this process's place among the workers, the AdamW optimiser over the trained parameters (the
    model's, then the objective's extra modules'), the fp16 gradient scaler (disabled otherwise) and
    the augmentation profile. (With adversarial completion the discriminator has its own optimiser:
    thz.losses.adversarial.)"""

    objective: Objective
    train: TrainConfig
    plan: Plan
    workers: Workers
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    profile: AugmentProfile

    @classmethod
    def start(cls, objective: Objective, train: TrainConfig, plan: Plan, workers: Workers | None = None) -> Run:
        workers = workers or Workers()
        parameters = place_networks(objective, train, workers)
        optimizer = torch.optim.AdamW(parameters, lr=train.lr, weight_decay=train.weight_decay)
        dtype = autocast_dtype(train.precision, workers.device)
        scaler = torch.amp.GradScaler(workers.device.type, enabled=dtype == torch.float16)
        profile = PROFILES[plan.augment.profile]
        return cls(objective, train, plan, workers, parameters, optimizer, scaler, profile)

    @property
    def adversary(self):
        return self.objective.task_objective.adversary

    @property
    def model(self) -> torch.nn.Module:
        return self.objective.model


@dataclass
class Progress:
    """Where a run stands; saved in last.pt and restored at resume."""

    step: int = 0
    best: float | None = None
    best_step: int = -1
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """The plan's phases laid out in steps: each phase has its own warm-up (at most half the
    phase) and cosine decay; validation every `val_interval` steps."""

    phases: tuple[Phase, ...]
    steps_per_epoch: int
    train: TrainConfig

    @property
    def total(self) -> int:
        return sum(p.epochs for p in self.phases) * self.steps_per_epoch

    @property
    def val_interval(self) -> int:
        return max(1, round(self.train.val_every * self.steps_per_epoch))

    def phase_at(self, step: int) -> tuple[int, int, int]:
        """(phase index, first step of the phase, steps in the phase) of a global step."""
        start = 0
        for i, phase in enumerate(self.phases):
            length = phase.epochs * self.steps_per_epoch
            if step < start + length or i == len(self.phases) - 1:
                return i, start, length
            start += length
        raise ValueError("no phases")

    def lr(self, step: int) -> float:
        _, start, length = self.phase_at(step)
        warmup = min(round(self.train.warmup_epochs * self.steps_per_epoch), length // 2)
        return lr_at(step - start, length, warmup, self.train)


def fit(
    objective: Objective,
    train: PairSet,
    val: PairSet,
    tc: TrainConfig,
    plan: Plan,
    out_dir: Path,
    *,
    params: Params,
    tracker: Tracker | None = None,
    workers: Workers | None = None,
    resume: bool = False,
    on_checkpoint: Callable[[int], None] | None = None,
) -> FitResult:
    """Train `objective.model` on `train` under the training config `tc` through the phases of
    `plan`, selecting on `val`; write out_dir/last.pt and out_dir/best.pt (best of the last phase),
    each with the run's `params`. `resume` (THZ_RESUME, thz.runtime.Execution) continues from
    out_dir/last.pt if the params the run reads are as they were (thz.train.resume). `workers`: this
    process's rank and device (default: the only process, on the CPU); only rank 0 validates, logs
    to `tracker`, writes checkpoints and calls `on_checkpoint(step)`."""
    run = Run.start(objective, tc, plan, workers)
    if run.workers.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in remove_leftovers(out_dir):
            print(f"removed {out_dir / name}: a half-written file of an interrupted run", flush=True)
    tracker = tracker if tracker is not None and run.workers.is_main else Tracker(None)
    check_rank_split(len(train.identities), tc.identities_per_batch, tc.images_per_identity, run.workers.world_size)
    notices = batch_notices(train.identity, train.identities, tc.identities_per_batch, tc.images_per_identity)
    for note in notices if tc.sampler == "identity" else []:
        run.workers.say(f"note: {note}")
    per_epoch = len(epoch_batches(train.identity, tc.sampler, tc.identities_per_batch, tc.images_per_identity, 0, 0))
    schedule = Schedule(plan.phases, per_epoch, tc)
    progress = _resume(run, out_dir / "last.pt", params, schedule) if resume else Progress()
    adversary = [run.adversary.discriminator] if run.adversary is not None else []
    broadcast_modules(
        [run.model, *objective.extra_modules().values(), *adversary]
    )  # every rank starts from rank 0's weights
    if len(plan.phases) > 1:
        run.workers.say("curriculum: " + ", ".join(f"{p.name} {p.epochs} epochs" for p in plan.phases))
    running = defaultdict(list)
    quiet = not run.workers.is_main
    bar = tqdm(total=schedule.total, initial=progress.step, desc="train", unit="step", mininterval=1.0, disable=quiet)
    while progress.step < schedule.total:
        step, (index, _, _) = progress.step, schedule.phase_at(progress.step)
        run.model.train()
        apply_phase(run.model, plan.phases[index])
        epoch = epoch_batches(
            train.identity, tc.sampler, tc.identities_per_batch, tc.images_per_identity, plan.seed, step // per_epoch
        )
        phase_objective = _phase_objective(plan.phases[index], objective)
        parts = train_step(phase_objective, train.batch(epoch[step % per_epoch]), step, schedule.lr(step), run)
        for name, value in parts.items():
            running[name].append(value)
        progress.step += 1
        bar.update(1)
        bar.set_postfix({k: f"{np.mean(v[-20:]):.3f}" for k, v in running.items() if k in SHOWN})
        if (progress.step % schedule.val_interval == 0 or progress.step == schedule.total) and run.workers.is_main:
            _validate_and_save(run, progress, val, out_dir, params, last_phase=index == len(plan.phases) - 1)
            train_means = {f"train/{k}": float(np.mean(v)) for k, v in running.items()}
            val_metrics = {f"val/{k}": v for k, v in progress.metrics.items()}
            tracker.log(progress.step, {**train_means, **val_metrics, "lr": schedule.lr(step), "phase": float(index)})
            running.clear()
            if on_checkpoint is not None:
                on_checkpoint(progress.step)
    bar.close()
    return FitResult(progress.best, progress.best_step, progress.step, progress.metrics)


def _phase_objective(phase: Phase, objective: Objective) -> Objective:
    """What trains in `phase`: masked reconstruction (the task objective's reconstruction terms) or
    the whole objective."""
    if phase.masking is not None:
        return MaskedReconstructionObjective(objective.task_objective, *phase.masking)
    return objective


def _resume(run: Run, path: Path, params: Params, schedule: Schedule) -> Progress:
    """Progress, weights, optimiser and scaler state from last.pt (a fresh start when there is none)."""
    ckpt = read_last(path, run.workers)
    if ckpt is None:
        return Progress()
    check_resumable(ckpt["config"], params, path)
    run.model.load_state_dict(ckpt["model"])
    for name, module in run.objective.extra_modules().items():
        module.load_state_dict(ckpt["extra"][name])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if run.scaler.is_enabled() and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    if run.adversary is not None:
        if not ckpt.get("adversary"):
            raise CheckpointError(f"{path} has no discriminator state: it was written without loss.adversarial")
        run.adversary.discriminator.load_state_dict(ckpt["adversary"]["discriminator"])
        run.adversary.optimizer.load_state_dict(ckpt["adversary"]["optimizer"])
    run.workers.say(f"resuming from {path} at step {ckpt['step']} of {schedule.total}")
    return Progress(ckpt["step"], ckpt["best_metric"], ckpt["best_step"], ckpt["metrics"])


def _validate_and_save(
    run: Run, progress: Progress, val: PairSet, out_dir: Path, params: Params, last_phase: bool
) -> None:
    """Validate; write best.pt when the selection metric improved (in the last phase only) and
    last.pt always, each with the run's params."""
    select = run.train.select_metric
    progress.metrics = validate(run.objective, val, device=run.workers.device)
    score = progress.metrics[select]
    best = progress.best
    better = best is None or (score > best if HIGHER_IS_BETTER[select] else score < best)
    # the keys in this order: torch.save keeps it, and equal checkpoints must be equal bytes
    config, modalities = params.values, list(run.model.modalities)
    if last_phase and better:
        progress.best, progress.best_step = score, progress.step
        save_checkpoint(
            out_dir / "best.pt",
            model=_cpu_state(run.model),
            config=config,
            modalities=modalities,
            step=progress.step,
            metrics=progress.metrics,
            **_identity_centres(run.objective),
        )
    save_checkpoint(
        out_dir / "last.pt",
        model=_cpu_state(run.model),
        extra={name: _cpu_state(module) for name, module in run.objective.extra_modules().items()},
        optimizer=run.optimizer.state_dict(),
        scaler=run.scaler.state_dict() if run.scaler.is_enabled() else None,
        adversary=_adversary_state(run),
        config=config,
        modalities=modalities,
        step=progress.step,
        best_metric=progress.best,
        best_step=progress.best_step,
        metrics=progress.metrics,
    )


def _identity_centres(objective: Objective) -> dict[str, dict]:
    """A margin softmax's identity centres, kept beside the best weights: a student distils the
    teacher's identity posterior from them (distill.identity_logit). Nothing without one."""
    margin = objective.task_objective.margin
    return {} if margin is None else {"identity_centres": _cpu_state(margin)}


@torch.no_grad()
def validate(
    objective: Objective, data: PairSet, batch_size: int = 256, device: torch.device | None = None
) -> dict[str, float]:
    """Validation metrics on a whole part: task loss parts, recon SSIM, posture accuracy (concealed
    inputs), and verification AUC/EER of concealed probes against unconcealed targets, through
    the one inference loop (thz.eval.predictions) under the model's own routing (visible images
    only for a teacher: a THz-only network is validated on THz alone)."""
    task = objective.task_objective
    ssim, losses = [], defaultdict(float)

    def each_batch(out, batch):
        n = len(batch["input"])
        ssim.append(ssim_per_sample(out.recon.float(), batch["target"]).cpu())
        for name, value in task.parts(out, batch).items():
            losses[name] += float(value) * n

    pred = predict(task.model, data, (task.model.routing,), batch_size, device, each_batch)
    scores, genuine = pred.pair_scores
    verification = verification_metrics(scores.ravel(), genuine.ravel())
    metrics = {f"loss_{k}" if k != "loss" else "loss": v / len(data) for k, v in losses.items()}
    metrics.update(
        ssim=float(torch.cat(ssim).mean()),
        posture_acc=int((pred.logits.argmax(1) == pred.posture).sum()) / len(data),
        auc=verification["auc"],
        eer=verification["eer"],
    )
    return metrics


def place_networks(objective: Objective, tc: TrainConfig, workers: Workers) -> list[torch.nn.Parameter]:
    """Put every network the objective runs (a frozen teacher and the LPIPS network too) on the
    device, in NHWC layout when train.channels_last, with global BatchNorm when distributed;
    return the trained parameters (the model's, then the objective's extra modules')."""
    for module in objective.networks().values():
        if workers.distributed:
            convert_batchnorm(module)
        module.to(workers.device)
        if tc.channels_last:
            module.to(memory_format=torch.channels_last)
    extra = objective.extra_modules().values()
    return list(objective.model.parameters()) + [p for m in extra for p in m.parameters()]


def _adversary_state(run: Run) -> dict | None:
    """The discriminator and its optimiser for last.pt (None without adversarial completion)."""
    if run.adversary is None:
        return None
    return {"discriminator": _cpu_state(run.adversary.discriminator), "optimizer": run.adversary.optimizer.state_dict()}


def _cpu_state(module) -> dict[str, torch.Tensor]:
    """A state dict on the CPU (so a checkpoint written on a GPU loads anywhere)."""
    state = module.state_dict()
    for key, value in state.items():
        if value.device.type != "cpu":
            state[key] = value.detach().cpu()
    return state


def train_step(
    objective: Objective, batch: dict[str, torch.Tensor], step: int, lr: float, run: Run
) -> dict[str, float]:
    """One optimisation step on the global batch `batch` (this rank's share of it when
    distributed) at learning rate `lr`, then the objective's own update (after_step); returns every
    loss part as a float, averaged over ranks, and what the objective's update logs."""
    tc, plan, workers = run.train, run.plan, run.workers
    # dropout and masking: the same at this step whatever ran before (a resumed run repeats an
    # uninterrupted one); each rank draws its own
    torch.manual_seed(rank_seed(plan.seed, step, workers.rank))
    generator = torch.Generator().manual_seed(step_seed(plan.seed, step))
    batch = augment_pair_batch(batch, run.profile, generator, speckle=plan.augment.speckle)  # the same on every rank
    if workers.distributed:
        rows = rank_rows(len(batch["input"]), tc.images_per_identity, workers.world_size, workers.rank)
        batch = {key: value[rows] for key, value in batch.items()}
    batch = to_device(batch, workers.device, tc.channels_last)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    dtype = autocast_dtype(tc.precision, workers.device)
    with torch.autocast(workers.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        parts = objective(batch)
    names = list(parts)
    values = mean_over_ranks(torch.stack([parts[k].detach().float().to(workers.device) for k in names]))
    logged = dict(zip(names, values.tolist(), strict=True))
    detail = ", ".join(f"{k}={v:.4g}" for k, v in logged.items())
    if not math.isfinite(logged["loss"]):
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: {detail}. Checkpoints written before this "
            "step are kept; lower train.lr or check the data."
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(parts["loss"]).backward()
    average_gradients(run.parameters)
    run.scaler.unscale_(run.optimizer)
    norm = torch.nn.utils.clip_grad_norm_(run.parameters, tc.grad_clip or float("inf"))
    if not torch.isfinite(norm) and not run.scaler.is_enabled():  # fp16: the scaler skips this step
        raise NonFiniteLossError(
            f"non-finite gradient at step {step} (loss parts: {detail}); the weights were "
            "not updated and checkpoints written before this step are kept."
        )
    run.scaler.step(run.optimizer)
    run.scaler.update()
    logged.update(objective.after_step(lr, tc.grad_clip))
    return logged
