"""Distillation terms: what a THz-only student can learn from a visible+THz teacher.

All take teacher tensors as given; the caller detaches them (or not, for joint training).
- feature_distillation: projected student latent against the teacher latent (MSE or cosine);
- logit_distillation: KL(teacher || student) on temperature-softened logits, times T^2 (Hinton et
  al. 2015) so its gradient scale does not shrink as T grows;
- rkd_distance / rkd_angle: relational knowledge distillation (Park et al., CVPR 2019): pairwise
  distances normalised by their mean, and angles of every triplet, compared with the Huber loss;
  both are invariant to how each network scales (distance) or rotates (angle) its embedding space,
  so student and teacher may have different dimensions;
- identity_centre_distillation: each student embedding pulled to its identity's teacher centre
  (the identity-centred instance-wise term of de-occlusion distillation for masked faces);
- contrastive_distillation: InfoNCE of each (projected) student embedding against the teacher
  embedding of the same image (positive) and the teacher embeddings of other identities
  (negatives), after CRD (Tian et al., ICLR 2020) with in-batch negatives;
- similarity_distillation: each row of the student's cosine-similarity matrix over the batch
  matched to the teacher's as distributions, KL(teacher || student): who resembles whom;
- identity_logit_distillation: where both networks have identity logits (a margin-softmax
  loss.metric), the teacher's posterior over the training identities taught to the student as in
  logit_distillation: which training people an image resembles, and how much.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def feature_distillation(projected: torch.Tensor, teacher: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """(B, C) student latents already projected to the teacher's C, against (B, C) teacher latents."""
    if projected.shape != teacher.shape:
        raise ValueError(f"projected student {tuple(projected.shape)} and teacher {tuple(teacher.shape)} differ")
    if kind == "mse":
        return F.mse_loss(projected, teacher)
    if kind == "cosine":
        return (1 - F.cosine_similarity(projected, teacher, dim=1)).mean()
    raise ValueError(f"distill.feature_loss must be 'mse' or 'cosine', got {kind!r}")


def logit_distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * mean over samples of KL(softmax(teacher / T) || softmax(student / T))."""
    log_p_student = F.log_softmax(student / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def identity_logit_distillation(
    student_cos: torch.Tensor, teacher_cos: torch.Tensor, scale: float, temperature: float
) -> torch.Tensor:
    """logit_distillation of (N, identities) cosines to each network's identity centres, both scaled
    by the margin softmax's s and without its margin (the margin shapes training, not the posterior)."""
    if student_cos.shape != teacher_cos.shape:
        raise ValueError(
            f"student {tuple(student_cos.shape)} and teacher {tuple(teacher_cos.shape)} identity logits differ"
        )
    return logit_distillation(scale * student_cos, scale * teacher_cos, temperature)


def _normalised_distances(emb: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(emb, emb)  # (B, B)
    off_diagonal = ~torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    return d / d[off_diagonal].mean().clamp_min(1e-12)


def rkd_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Huber loss between the pairwise distances of student and teacher embeddings, each divided by
    its own mean distance (Park et al. 2019, eq. 3-4)."""
    if len(student) < 2:
        return student.sum() * 0.0
    off_diagonal = ~torch.eye(len(student), dtype=torch.bool, device=student.device)
    s = _normalised_distances(student)[off_diagonal]
    t = _normalised_distances(teacher)[off_diagonal]
    return F.smooth_l1_loss(s, t)


def _angles(emb: torch.Tensor) -> torch.Tensor:
    """cos of the angle at j of every triplet (i, j, k): <e_i - e_j, e_k - e_j> / norms; (B, B, B)."""
    diff = F.normalize(emb[None, :, :] - emb[:, None, :], dim=2)  # diff[j, i] = unit(e_i - e_j)
    return torch.bmm(diff, diff.transpose(1, 2))


def rkd_angle(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Huber loss between the triplet angles of student and teacher embeddings (Park et al. 2019,
    eq. 5-6). Memory and time grow as B^3: a batch of 64 makes 262 k angles."""
    if len(student) < 3:
        return student.sum() * 0.0
    return F.smooth_l1_loss(_angles(student), _angles(teacher))


def identity_centre_distillation(student: torch.Tensor, teacher: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(student_i, c_y(i)), where c_y is the mean teacher embedding of identity y in the
    batch (unit-normalised): the student learns where the teacher puts each person, not each image."""
    labels, index = torch.unique(identity, return_inverse=True)
    centres = torch.zeros(len(labels), teacher.shape[1], dtype=teacher.dtype, device=teacher.device)
    centres = F.normalize(centres.index_add(0, index, teacher), dim=1)
    return (1 - F.cosine_similarity(student, centres[index], dim=1)).mean()


def contrastive_distillation(
    student: torch.Tensor, teacher: torch.Tensor, identity: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over rows i of -log( e^(s_i.t_i / T) / (e^(s_i.t_i / T) + sum_{j: y_j != y_i} e^(s_i.t_j / T)) ),
    with s and t unit-normalised: the student must find the teacher's view of its own image among
    the teacher's views of other people. Other images of the same identity are neither positive
    nor negative (the teacher puts them close too)."""
    s, t = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
    logits = s @ t.T / temperature  # (B, B)
    same = identity[:, None] == identity[None, :]
    own = torch.eye(len(s), dtype=torch.bool, device=s.device)
    logits = logits.masked_fill(same & ~own, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()


def similarity_distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows of KL(softmax(T_i / t) || softmax(S_i / t)), S and T the cosine-similarity
    matrices of the student and teacher embeddings over the batch, self excluded; 0 for a batch of
    one. Invariant to rotating either embedding space."""
    if len(student) < 2:
        return student.sum() * 0.0
    s, t = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    rows = (len(s), len(s) - 1)
    log_p_student = F.log_softmax((s @ s.T)[off].view(rows) / temperature, dim=1)
    log_p_teacher = F.log_softmax((t @ t.T)[off].view(rows) / temperature, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
