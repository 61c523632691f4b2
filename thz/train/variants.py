"""The three training variants, each declared once (`Variant`): the params it reads (its stage's
params in dvc.yaml follow from them, tests/test_dvc_yaml.py, and so does what a resume must find
unchanged), its budget (budget.<variant>: its epochs and curriculum) and whether it learns from
the trained teacher; and `build_objective`, what a variant trains. Stage `train_<variant>`
(stages/train.py) runs them.

- baseline: the THz-only network with the task objective;
- teacher: the same network plus a visible encoder and cross-attention fusion, on THz + visible
  images (samples lacking a visible image are named and refused, or left out when data.strict is
  false);
- student: the baseline architecture with the task objective plus distillation from the trained
  teacher. Only its training set carries visible images (for the teacher), so with data.strict
  false it trains on the samples that have them; it is validated, like every THz-only network,
  on THz images alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from thz.checkpoint import load_checkpoint, load_model
from thz.config import Budget, Config, ConfigError
from thz.losses.objective import DistillationObjective, MultiTaskObjective, Objective, TeacherCentres
from thz.losses.perceptual import PerceptualLoss, build_perceptual_loss
from thz.models import build_model
from thz.train.curriculum import Plan
from thz.train.resume import Params

TASK = ("seed", "data", "model", "loss", "augment", "train")  # what every variant reads


@dataclass(frozen=True)
class Variant:
    name: str
    sections: tuple[str, ...] = ()  # the params sections it reads besides TASK and its budget
    visible: bool = False  # its network also sees visible images (the teacher's architecture)
    distils: bool = False  # it learns from the trained teacher's checkpoint (--teacher)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every params section and key it reads: dvc.yaml's params of its stage."""
        return (*TASK, *self.sections, f"budget.{self.name}")

    def budget(self, cfg: Config) -> Budget:
        return getattr(cfg.budget, self.name)

    def plan(self, cfg: Config) -> Plan:
        """Its phases (from its budget), batches and augmentation."""
        return Plan.of(self.budget(cfg), cfg.seed, cfg.augment)

    def params(self, cfg: Config) -> Params:
        """`cfg` as its checkpoints keep it, with what a resume must find unchanged."""
        return Params.of(cfg, self.reads)


VARIANTS = {
    v.name: v
    for v in (
        Variant("baseline"),
        Variant("teacher", ("teacher",), visible=True),
        Variant("student", ("distill",), distils=True),
    )
}


def with_perceptual(cfg: Config) -> tuple[Config, PerceptualLoss | None]:
    """The LPIPS network when loss.lpips weighs it; without its weights (data/weights) the term is
    off and `cfg` says so (the checkpoints record lpips 0)."""
    perceptual = build_perceptual_loss() if cfg.loss.lpips > 0 else None
    if perceptual is None and cfg.loss.lpips > 0:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, lpips=0.0))  # recorded as off
    return cfg, perceptual


def build_objective(
    variant: str, cfg: Config, images: pd.DataFrame, perceptual: PerceptualLoss | None, teacher: Path | None = None
) -> Objective:
    """What `variant` trains: its network under the task objective (a margin softmax over the
    training identities of `images`), and for the student the distillation from the trained
    teacher's checkpoint `teacher`."""
    declared = VARIANTS[variant]
    model = build_model(cfg.model, cfg.teacher if declared.visible else None)
    identities = images.identity[images.split == "train"].nunique()  # a margin softmax's classes
    objective = MultiTaskObjective(model, cfg.loss, perceptual, identities)
    if declared.distils:
        objective = _distillation(objective, cfg, teacher)
    return objective


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
    centres = _teacher_centres(teacher_path, teacher_cfg) if cfg.distill.identity_logit > 0 else None
    try:
        return DistillationObjective(task, teacher, cfg.distill, centres)
    except ValueError as err:
        raise ConfigError(f"{teacher_path}: {err}") from None


def _teacher_centres(teacher_path: Path, teacher_cfg: Config) -> TeacherCentres | None:
    """The teacher's identity centres, kept in its best.pt when it trained with a margin softmax."""
    state = load_checkpoint(teacher_path).get("identity_centres")
    if state is None:
        return None
    subcenters = teacher_cfg.loss.subcenters if teacher_cfg.loss.metric == "subcenter_arcface" else 1
    return TeacherCentres(state["centres"], subcenters)
