"""Training objectives: one forward pass, every unweighted part, one weighted sum.

Each returns a dict with "loss" (the weighted total) and each part, so the engine can log all of
them. `MultiTaskObjective` is the task objective of every network (baseline, teacher, student):
verification ("supcon" or "triplet"), "posture", "recon" and its terms ("charbonnier", "ssim",
"gradient", "lpips"). Each image is encoded once: concealed inputs and their
unconcealed targets go through the encoder together; only the inputs are decoded. A teacher also
gets the visible images of the same captures: each network's `inputs` (thz.models.inputs) picks
what it reads out of a batch.

`DistillationObjective` adds the teacher's knowledge to a student's task objective;
`MaskedReconstructionObjective` is the self-supervised first phase of the curriculum. Both keep
the task objective as `task_objective`, which is what validation scores.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from thz.config import DistillConfig, LossConfig
from thz.distributed import gather_rows
from thz.losses.adversarial import Adversary
from thz.losses.distill import (
    contrastive_distillation,
    feature_distillation,
    identity_centre_distillation,
    identity_logit_distillation,
    logit_distillation,
    rkd_angle,
    rkd_distance,
    similarity_distillation,
)
from thz.losses.margin import MARGIN_METRICS, MarginSoftmax, centre_cosines
from thz.losses.reconstruction import reconstruction_terms
from thz.losses.supcon import instance_loss, supcon_loss, triplet_loss
from thz.models.inputs import Inputs

RECON_TERMS = ("charbonnier", "ssim", "gradient", "lpips")
DISTILL_TERMS = (
    "feature",
    "logit",
    "rkd_distance",
    "rkd_angle",
    "identity_centre",
    "contrastive",
    "similarity",
    "identity_logit",
)
GLOBAL_TERMS = ("rkd_distance", "rkd_angle", "identity_centre", "contrastive", "similarity")  # see the whole batch


def _no_autocast(like: torch.Tensor):
    """Mixed precision is for the network, not for SSIM, SupCon or the distillation terms."""
    return torch.autocast(like.device.type, enabled=False)


class Objective:
    """What the training stage and loop ask of every objective: the network it trains (`model`), the
    task objective that validation scores (`task_objective`), what its training data must carry
    (`reads`), the trainable modules besides the model (`extra_modules`: saved in last.pt,
    optimised with the model), every module a step runs (`networks`: placed on the device), a call
    on a batch returning the loss parts with the weighted total under "loss", and its own update
    after each of the model's steps (`after_step`)."""

    @property
    def task_objective(self) -> MultiTaskObjective:
        raise NotImplementedError

    @property
    def model(self) -> nn.Module:
        return self.task_objective.model

    @property
    def reads(self) -> Inputs:
        """What its training batches must carry: the model's inputs."""
        return self.model.inputs

    def extra_modules(self) -> dict[str, nn.Module]:
        return {}

    def networks(self) -> dict[str, nn.Module]:
        return {**self.task_objective.networks(), **self.extra_modules()}

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_step(self, lr: float, grad_clip: float) -> dict[str, float]:
        """Called by the training loop after each optimiser step of the model, at that step's learning
        rate and train.grad_clip: the task objective's own update (adversarial completion steps its
        discriminator). Returns what it logs beside the loss parts."""
        return self.task_objective.after_step(lr, grad_clip)


class MultiTaskObjective(Objective):
    """Verification (SupCon or triplet on identity labels over inputs and targets, weight
    loss.supcon, plus the instance-level twin term at weight loss.instance, computed only when
    switched on, on the twin head when the network has one), posture (label-smoothed cross-entropy
    on all images), reconstruction of the target from the input, and with loss.adversarial > 0 a
    patch discriminator's judgement of the reconstructions (the discriminator's own step on them
    follows the model's: after_step)."""

    def __init__(self, model: nn.Module, cfg: LossConfig, perceptual=None, identities: int = 0):
        self._model, self.cfg = model, cfg
        self.perceptual = perceptual if cfg.lpips > 0 else None
        self.adversary = Adversary(cfg.adversarial_loss, cfg.adversarial_conditional) if cfg.adversarial > 0 else None
        self.identities = identities  # training identities: the classes of a margin softmax
        self.margin = _margin_softmax(model, cfg, identities) if cfg.metric in MARGIN_METRICS else None

    @property
    def model(self) -> nn.Module:
        return self._model

    @property
    def task_objective(self) -> MultiTaskObjective:
        return self

    def extra_modules(self) -> dict[str, nn.Module]:
        """The identity centres of a margin softmax, trained with the model and saved in last.pt."""
        return {"identity_centres": self.margin} if self.margin is not None else {}

    def networks(self) -> dict[str, nn.Module]:
        """The model, the LPIPS network, the discriminator and the extra modules (for device and
        memory-layout placement; the discriminator is trained by its own optimiser: after_step)."""
        out = {"model": self.model, **({"perceptual": self.perceptual} if self.perceptual is not None else {})}
        out |= {"discriminator": self.adversary.discriminator} if self.adversary is not None else {}
        return out | self.extra_modules()

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch: input (B, 1, H, W) concealed, target (B, 1, H, W) unconcealed, identity (B,),
        posture (B,); for a teacher also visible_input and visible_target (B, 1, H, W)."""
        out = self.forward(batch)
        with _no_autocast(batch["input"]):
            return self.parts(out, batch, global_batch=True)

    def forward(self, batch: dict[str, torch.Tensor], decode: bool = True):
        """The model on [inputs; targets] (2B rows); the first B (the inputs) decoded if `decode`."""
        images, posture, visible = self.model.inputs.pick(batch)
        return self.model(images, posture, decode=batch["input"].shape[0] if decode else False, visible=visible)

    def parts(self, out, batch: dict[str, torch.Tensor], global_batch: bool = False) -> dict[str, torch.Tensor]:
        """Every loss part of `out` on `batch`. `global_batch` (training): the verification loss
        compares the embeddings of every training process's share of the batch (thz.distributed);
        the other parts are means over this process's rows."""
        cfg = self.cfg
        identity = torch.cat([batch["identity"], batch["identity"]])
        posture = torch.cat([batch["posture"], batch["posture"]])
        # the identity term trains the identity head, the twin term the twin head (the shared one
        # when the network has a single head)
        emb = (out.identity_emb if out.identity_emb is not None else out.emb).float()
        twin_emb = out.twin_emb.float() if out.twin_emb is not None else emb
        labels = identity
        capture = torch.cat([batch["capture"], batch["capture"]]) if cfg.instance > 0 else None
        if global_batch:
            emb, labels = gather_rows(emb), gather_rows(labels)
            twin_emb = gather_rows(twin_emb) if out.twin_emb is not None else emb
            capture = gather_rows(capture) if capture is not None else None
        parts = self._identity_parts(emb, labels, training=global_batch)
        verification = cfg.supcon * parts[cfg.metric] if cfg.metric in parts else torch.zeros((), device=emb.device)
        if cfg.metric in MARGIN_METRICS and "supcon" in parts:
            verification = verification + cfg.margin_supcon * parts["supcon"]
        if capture is not None:
            others_only = labels if cfg.instance_negatives == "other_identities" else None
            parts["instance"] = instance_loss(twin_emb, capture, cfg.temperature, identity=others_only)
            verification = verification + cfg.instance * parts["instance"]
        parts["posture"] = F.cross_entropy(out.posture_logits.float(), posture, label_smoothing=cfg.label_smoothing)
        parts.update(self.recon_parts(out.recon, batch["target"]))
        parts["loss"] = verification + cfg.posture * parts["posture"] + cfg.recon * parts["recon"]
        if self.adversary is not None and global_batch:  # training only: validation scores the task
            parts["adversarial"] = self.adversary.generator_loss(out.recon.float(), batch["input"])
            parts["loss"] = parts["loss"] + cfg.adversarial * parts["adversarial"]
            self.adversary.remember(out.recon, batch["target"], batch["input"])  # the discriminator's next step
        return parts

    def after_step(self, lr: float, grad_clip: float) -> dict[str, float]:
        """With adversarial completion, the discriminator's step on this step's reconstructions."""
        loss = self.adversary.step(lr, grad_clip) if self.adversary is not None else None
        return {} if loss is None else {"discriminator": loss}

    def _identity_parts(self, emb: torch.Tensor, labels: torch.Tensor, training: bool) -> dict[str, torch.Tensor]:
        """The identity-level term under its own name (loss.metric), and SupCon beside a margin
        softmax when weighted. The margin softmax knows the training identities only: validation,
        which scores other people, leaves it out."""
        cfg, parts = self.cfg, {}
        if cfg.metric == "supcon" or (cfg.metric in MARGIN_METRICS and cfg.margin_supcon > 0):
            parts["supcon"] = supcon_loss(emb, labels, cfg.temperature)
        if cfg.metric == "triplet":
            parts["triplet"] = triplet_loss(emb, labels, cfg.triplet_margin)
        elif cfg.metric in MARGIN_METRICS and training:
            parts[cfg.metric] = self.margin(emb, labels)
        return parts

    def recon_parts(self, recon: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each reconstruction term (batch mean) and their weighted sum "recon"."""
        terms = reconstruction_terms(recon.float(), target.float(), self.perceptual)
        parts = {name: value.mean() for name, value in terms.items()}
        parts["recon"] = sum(getattr(self.cfg, name) * parts[name] for name in RECON_TERMS if name in parts)
        return parts


def _scored_dim(net: nn.Module) -> int:
    """Length of a network's scored embedding: its identity head's, twice with a twin head."""
    return net.embedding.mlp[-1].out_features * (2 if net.twin_embedding is not None else 1)


def _margin_softmax(model: nn.Module, cfg: LossConfig, identities: int) -> MarginSoftmax:
    """The margin softmax of loss.metric over `identities` training identities, on the identity
    embedding (the identity head's, when the network has a twin head)."""
    if identities < 2:
        raise ValueError(f"loss.metric {cfg.metric} needs the number of training identities (got {identities})")
    arc = cfg.metric != "cosface"
    scale, margin = (cfg.arcface_scale, cfg.arcface_margin) if arc else (cfg.cosface_scale, cfg.cosface_margin)
    dim = model.embedding.mlp[-1].out_features  # the identity head's output
    return MarginSoftmax(dim, identities, cfg.metric, scale, margin, cfg.subcenters)


class MaskedReconstructionObjective(Objective):
    """Curriculum phase 1: hide `ratio` of the `patch` x `patch` squares of every THz image (concealed
    and unconcealed alike) and reconstruct the whole image through the posture experts; no labels
    but the posture that routes the decoder. Trains the encoder (and decoder) before any task head."""

    def __init__(self, task: MultiTaskObjective, ratio: float, patch: int):
        self.task, self.ratio, self.patch = task, ratio, patch

    @property
    def task_objective(self) -> MultiTaskObjective:
        return self.task

    def keep_mask(self, like: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) 1 where pixels stay, 0 in hidden squares; drawn from the global RNG (the engine
        seeds each step)."""
        b, _, h, w = like.shape
        grid = (-(-h // self.patch), -(-w // self.patch))
        keep = (torch.rand(b, 1, *grid) >= self.ratio).to(like.dtype)
        return keep.repeat_interleave(self.patch, 2).repeat_interleave(self.patch, 3)[:, :, :h, :w].to(like.device)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model = self.task.model
        images, posture, visible = model.inputs.pick(batch)
        keep = self.keep_mask(images)
        if visible is not None:  # the same squares hidden in both modalities: no shortcut around the mask
            visible = visible * F.interpolate(keep, size=visible.shape[-2:], mode="nearest")
        out = model(images * keep, posture, visible=visible)
        with _no_autocast(images):
            parts = self.task.recon_parts(out.recon, images)
            parts["loss"] = parts["recon"]
            return parts


class DistillationObjective(Objective):
    """The student's task objective plus distillation from a teacher (see thz.losses.distill).

    A frozen teacher runs in eval mode without gradients, on only the rows the terms need; a joint
    teacher trains alongside with its own task loss (weight distill.teacher_task_weight). The
    feature projection (student latent -> teacher latent) is trained with the student and saved
    in last.pt, not in the student's weights: the student stays the baseline architecture."""

    def __init__(
        self,
        task: MultiTaskObjective,
        teacher: nn.Module,
        cfg: DistillConfig,
        teacher_centres: TeacherCentres | None = None,
    ):
        if teacher.inputs.visible is None:
            raise ValueError("the distillation teacher must be a visible+THz network")
        self.task, self.cfg = task, cfg
        self.teacher = teacher.requires_grad_(not cfg.freeze_teacher)
        # the teacher's own task loss (joint teacher) has no discriminator: completion is the student's
        self.teacher_task = MultiTaskObjective(
            teacher, dataclasses.replace(task.cfg, adversarial=0.0), task.perceptual, task.identities
        )
        self.projector = None
        if cfg.feature > 0:
            self.projector = nn.Linear(task.model.encoder.channels[-1], teacher.encoder.channels[-1])
        self.contrastive_head = None  # the student's embedding into the teacher's, for InfoNCE
        if cfg.contrastive > 0:
            self.contrastive_head = nn.Linear(_scored_dim(task.model), _scored_dim(teacher))
        self.teacher_centres = None  # the teacher's identity centres, fixed, for identity-logit KL
        if cfg.identity_logit > 0:
            self.teacher_centres = _checked_centres(task, teacher_centres)

    @property
    def task_objective(self) -> MultiTaskObjective:
        return self.task

    def extra_modules(self) -> dict[str, nn.Module]:
        extra = self.task.extra_modules()
        if self.projector is not None:
            extra["projector"] = self.projector
        if self.contrastive_head is not None:
            extra["contrastive_head"] = self.contrastive_head
        if not self.cfg.freeze_teacher:
            extra["teacher"] = self.teacher
        return extra

    def networks(self) -> dict[str, nn.Module]:
        out = {**self.task.networks(), "teacher": self.teacher, **self.extra_modules()}
        return out | ({"teacher_centres": self.teacher_centres} if self.teacher_centres is not None else {})

    @property
    def needs_teacher(self) -> bool:
        return not self.cfg.freeze_teacher or any(getattr(self.cfg, t) > 0 for t in DISTILL_TERMS)

    @property
    def reads(self) -> Inputs:
        """The teacher's inputs when it runs on the training batches (the student reads THz only)."""
        return self.teacher.inputs if self.needs_teacher else self.task.model.inputs

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        student = self.task.forward(batch)
        teacher, teacher_parts = self._teacher(batch)
        with _no_autocast(batch["input"]):
            parts = self.task.parts(student, batch, global_batch=True)
            if teacher is None:
                return parts
            rows = len(student.emb) if self.cfg.full_triplet else batch["input"].shape[0]
            identity = torch.cat([batch["identity"], batch["identity"]])[:rows]
            terms = self._terms(student, teacher, identity, rows)
            parts.update({f"distill_{name}": value for name, value in terms.items()})
            parts["distill"] = sum((getattr(self.cfg, name) * value for name, value in terms.items()), torch.zeros(()))
            parts["loss"] = parts["loss"] + parts["distill"]
            if teacher_parts is not None:
                parts["teacher_loss"] = teacher_parts["loss"]
                parts["loss"] = parts["loss"] + self.cfg.teacher_task_weight * teacher_parts["loss"]
            return parts

    def _teacher(self, batch):
        """Teacher outputs (and its task parts when it trains), or (None, None) when nothing needs it."""
        if not self.needs_teacher:
            return None, None
        if not self.cfg.freeze_teacher:
            self.teacher.train(self.task.model.training)
            out = self.teacher_task.forward(batch)
            with _no_autocast(batch["input"]):
                return out, self.teacher_task.parts(out, batch, global_batch=True)
        self.teacher.eval()
        images, _, visible = self.teacher.inputs.pick(batch, anchors_only=not self.cfg.full_triplet)
        with torch.no_grad():
            return self.teacher(images, decode=False, visible=visible), None

    def _terms(self, student, teacher, identity, rows) -> dict[str, torch.Tensor]:
        """Each switched-on term; teacher outputs are detached (a joint teacher learns from its own
        task loss only, so it cannot drift towards the student). Feature and logit terms are means
        over this process's rows; the relational and identity-centre terms see the whole global
        batch (thz.distributed)."""
        cfg, terms = self.cfg, {}
        s_emb, t_emb = student.emb[:rows].float(), teacher.emb[:rows].detach().float()
        if any(getattr(cfg, name) > 0 for name in GLOBAL_TERMS):
            s_emb, t_emb, identity = gather_rows(s_emb), gather_rows(t_emb), gather_rows(identity)
        if cfg.feature > 0:
            projected = self.projector(student.latent[:rows].float())
            t_latent = teacher.latent[:rows].detach().float()
            terms["feature"] = feature_distillation(projected, t_latent, cfg.feature_loss)
        if cfg.logit > 0:
            t_logits = teacher.posture_logits[:rows].detach().float()
            terms["logit"] = logit_distillation(student.posture_logits[:rows].float(), t_logits, cfg.temperature)
        if cfg.rkd_distance > 0:
            terms["rkd_distance"] = rkd_distance(s_emb, t_emb)
        if cfg.rkd_angle > 0:
            terms["rkd_angle"] = rkd_angle(s_emb, t_emb)
        if cfg.identity_centre > 0:
            terms["identity_centre"] = identity_centre_distillation(s_emb, t_emb, identity)
        if cfg.contrastive > 0:
            projected = self.contrastive_head(s_emb)
            terms["contrastive"] = contrastive_distillation(projected, t_emb, identity, cfg.contrastive_temperature)
        if cfg.similarity > 0:
            terms["similarity"] = similarity_distillation(s_emb, t_emb, cfg.similarity_temperature)
        if cfg.identity_logit > 0:
            margin = self.task.margin
            s_cos = margin.cosines(_identity_emb(student)[:rows].float())
            t_cos = self.teacher_centres(_identity_emb(teacher)[:rows].detach().float())
            terms["identity_logit"] = identity_logit_distillation(s_cos, t_cos, margin.scale, cfg.temperature)
        return terms


class TeacherCentres(nn.Module):
    """A trained teacher's identity centres (its margin softmax's, from its checkpoint), fixed: its
    cosines over the training identities are the posterior the student is taught."""

    def __init__(self, centres: torch.Tensor, subcenters: int):
        super().__init__()
        self.subcenters = subcenters
        self.register_buffer("centres", centres.detach().float().clone())

    @property
    def identities(self) -> int:
        return self.centres.shape[0] // self.subcenters

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return centre_cosines(emb, self.centres, self.subcenters)


def _identity_emb(out) -> torch.Tensor:
    """The embedding a margin softmax scores: the identity head's (the shared one without a twin head)."""
    return out.identity_emb if out.identity_emb is not None else out.emb


def _checked_centres(task: MultiTaskObjective, centres: TeacherCentres | None) -> TeacherCentres:
    """Identity-logit distillation needs identity logits on both sides, over the same identities."""
    if task.margin is None:
        raise ValueError(
            f"distill.identity_logit needs identity logits: loss.metric must be one of {MARGIN_METRICS}, "
            f"got {task.cfg.metric!r}"
        )
    if centres is None:
        raise ValueError(
            "distill.identity_logit needs the teacher's identity centres: train the teacher with a "
            f"margin-softmax loss.metric ({', '.join(MARGIN_METRICS)})"
        )
    if centres.identities != task.margin.identities:
        raise ValueError(
            f"the teacher has identity centres for {centres.identities} identities, the student "
            f"{task.margin.identities}: they must be trained on the same fold"
        )
    return centres
