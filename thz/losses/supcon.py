"""Metric-learning losses: supervised contrastive on identity labels (default), batch-hard triplet,
and the instance-level ("twin") contrastive loss of the published code."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon_loss(emb: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., NeurIPS 2020, L_out), on identity labels.

    emb (N, D) L2-normalised; labels (N,) identity ids. For anchor i with positives P(i) (same
    identity, i itself excluded):
        L_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t) )
    Self is excluded from the denominator. Rule for anchors without a positive: they contribute
    nothing and are not counted in the mean; if no anchor has one, the loss is 0 (still a graph
    node). The published code labelled triplet positions instead of identities, making other
    images of the same person negatives.
    """
    n = emb.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=emb.device)
    logits = (emb @ emb.T / temperature).masked_fill(self_mask, float("-inf"))  # (N, N), a != i
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    counts = positives.sum(dim=1)
    has_pos = counts > 0
    if not has_pos.any():
        return emb.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)  # -inf only on the masked diagonal
    return -(pos_log_prob[has_pos] / counts[has_pos]).mean()


def instance_loss(
    emb: torch.Tensor, capture: torch.Tensor, temperature: float = 0.07, identity: torch.Tensor | None = None
) -> torch.Tensor:
    """Instance-level ("twin") contrastive loss, the published objective: each image's only positive
    is the other image of its own capture (a concealed input and its unconcealed twin; a capture
    drawn twice into one batch is the same capture, its copies are positives too); every other
    image of the batch is a negative, the same identity's other captures included.

    emb (N, D) L2-normalised; capture (N,) one id per capture, shared by an input and its twin. It is
    SupCon with capture ids for labels: the published code labelled triplet positions, which is the
    same thing for anchor and positive. It teaches "this concealed face is that unconcealed face",
    and pushes the same person's other captures away, which costs identity-level verification.

    With `identity` (N,) given, the same identity's other captures are left out of the denominator
    (neither positive nor negative): the twin must beat other people only, which is exactly the
    published triplet protocol, without pushing a person's captures apart.
    """
    if identity is None:
        return supcon_loss(emb, capture, temperature)
    n = emb.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=emb.device)
    twin = (capture[:, None] == capture[None, :]) & ~self_mask
    same_person = (identity[:, None] == identity[None, :]) & ~twin
    logits = (emb @ emb.T / temperature).masked_fill(same_person | self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    counts = twin.sum(dim=1)
    has_twin = counts > 0
    if not has_twin.any():
        return emb.sum() * 0.0
    return -(log_prob.masked_fill(~twin, 0.0).sum(dim=1)[has_twin] / counts[has_twin]).mean()


def triplet_loss(emb: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al., 2017) on Euclidean distances of unit embeddings:
    mean over anchors of relu(d(hardest positive) - d(hardest negative) + margin). Anchors without
    a positive or a negative in the batch are left out (0 if none is left)."""
    dist = torch.cdist(emb, emb)  # (N, N)
    same = labels[:, None] == labels[None, :]
    self_mask = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    positives, negatives = same & ~self_mask, ~same
    valid = positives.any(1) & negatives.any(1)
    if not valid.any():
        return emb.sum() * 0.0
    hardest_pos = dist.masked_fill(~positives, float("-inf")).amax(dim=1)
    hardest_neg = dist.masked_fill(~negatives, float("inf")).amin(dim=1)
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()
