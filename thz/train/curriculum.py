"""A run's plan: which objective trains which parts of the network, for how many epochs, on which
batches.

The phases come from the model's budget (params budget.<model>), in the multi-stage curriculum
(after work on occluded thermal faces): (1) "pretrain": encoder and decoder learn masked
reconstruction, the task heads stay untouched; (2) "heads": the encoder is frozen and the heads
specialise on the tasks; (3) "joint": everything trains on the full objective. Phases with 0 epochs
are skipped, so by default there is one joint phase (the published behaviour). Frozen parts keep
their weights AND their BatchNorm statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from thz.config import AugmentConfig, Budget

TASK_HEADS = ("reduction", "embedding", "posture_head")
ENCODER_MODULES = ("encoder", "visible_encoder")  # the fusion of a teacher trains with the heads


@dataclass(frozen=True)
class Phase:
    name: str  # pretrain | heads | joint
    epochs: int
    frozen: tuple[str, ...]  # names of the network's top-level modules held fixed
    masking: tuple[float, int] | None = None  # masked reconstruction: (share of squares hidden, their side in px)


@dataclass(frozen=True)
class Plan:
    """What one run goes through: its phases in order, the seed of its batches (their order, dropout
    and masking) and how its batches are augmented."""

    phases: tuple[Phase, ...]
    seed: int = 0
    augment: AugmentConfig = AugmentConfig()

    @classmethod
    def of(cls, budget: Budget, seed: int, augment: AugmentConfig) -> Plan:
        """The plan of a model with this budget, seed and augmentation."""
        return cls(plan_phases(budget), seed, augment)


def plan_phases(budget: Budget) -> tuple[Phase, ...]:
    """The phases of one model's budget, in order, without those of 0 epochs."""
    phases = (
        Phase("pretrain", budget.pretrain_epochs, TASK_HEADS, (budget.mask_ratio, budget.mask_patch)),
        Phase("heads", budget.heads_epochs, ENCODER_MODULES),
        Phase("joint", budget.epochs, ()),
    )
    return tuple(p for p in phases if p.epochs > 0)


def apply_phase(model: nn.Module, phase: Phase) -> None:
    """Freeze the phase's modules (no gradient, eval-mode BatchNorm and dropout); unfreeze the rest.
    Call after model.train(): it only ever switches frozen modules to eval."""
    for name, module in model.named_children():
        frozen = name in phase.frozen
        module.requires_grad_(not frozen)
        if frozen:
            module.eval()
