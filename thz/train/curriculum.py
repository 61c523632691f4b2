"""Training phases: which objective trains which parts of the network, for how many epochs.

The multi-stage curriculum (after work on occluded thermal faces): (1) "pretrain": encoder and
decoder learn masked reconstruction, the task heads stay untouched; (2) "heads": the encoder is
frozen and the heads specialise on the tasks; (3) "joint": everything trains on the full
objective. Phases with 0 epochs are skipped, so by default there is one joint phase (the
published behaviour). Frozen parts keep their weights AND their BatchNorm statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from thz.config import TrainConfig

TASK_HEADS = ("reduction", "embedding", "posture_head")
ENCODER_MODULES = ("encoder", "visible_encoder")  # the fusion of a teacher trains with the heads


@dataclass(frozen=True)
class Phase:
    name: str  # pretrain | heads | joint
    epochs: int
    frozen: tuple[str, ...]  # names of the network's top-level modules held fixed


def plan_phases(tc: TrainConfig) -> list[Phase]:
    """The phases of one run, in order, without those of 0 epochs."""
    phases = [
        Phase("pretrain", tc.pretrain_epochs, TASK_HEADS),
        Phase("heads", tc.heads_epochs, ENCODER_MODULES),
        Phase("joint", tc.epochs, ()),
    ]
    return [p for p in phases if p.epochs > 0]


def apply_phase(model: nn.Module, phase: Phase) -> None:
    """Freeze the phase's modules (no gradient, eval-mode BatchNorm and dropout); unfreeze the rest.
    Call after model.train(): it only ever switches frozen modules to eval."""
    for name, module in model.named_children():
        frozen = name in phase.frozen
        module.requires_grad_(not frozen)
        if frozen:
            module.eval()
