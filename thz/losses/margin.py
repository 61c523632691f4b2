"""Margin-based softmax over the training identities, the face-verification field's standard
objectives (insightface's arcface_torch): CosFace (Wang et al. 2018, additive cosine margin),
ArcFace (Deng et al. 2019, additive angular margin) and sub-center ArcFace (Deng et al. 2020, k
centres per identity, the closest one counts).

Each identity has a learnable centre (k with sub-centres) on the unit sphere; the logit of an
embedding for an identity is its cosine to that centre, scaled by s, with the margin applied to
the true identity only, so an embedding must beat every other centre by the margin. The centres
are trained with the network and saved in last.pt (the objective's extra modules); they cover the
training identities only, so the term is a training loss (validation scores other people).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MARGIN_METRICS = ("cosface", "arcface", "subcenter_arcface")


def margin_logits(cos: torch.Tensor, labels: torch.Tensor, kind: str, scale: float, margin: float) -> torch.Tensor:
    """(N, C) cosines -> scaled logits with the margin on each row's true class `labels` (N,):
    cosface s (cos - m); arcface s cos(theta + m), and where theta + m would pass pi,
    s (cos - m sin(m)) instead (insightface's rule: the true logit keeps falling as theta grows)."""
    true = F.one_hot(labels, cos.shape[1]).bool()
    if kind == "cosface":
        adjusted = cos - margin
    elif kind in ("arcface", "subcenter_arcface"):
        sin = (1.0 - cos.square()).clamp_min(0.0).sqrt()
        phi = cos * math.cos(margin) - sin * math.sin(margin)  # cos(theta + m)
        adjusted = torch.where(cos > math.cos(math.pi - margin), phi, cos - math.sin(math.pi - margin) * margin)
    else:
        raise ValueError(f"unknown margin objective {kind!r}; expected one of {MARGIN_METRICS}")
    return scale * torch.where(true, adjusted, cos)


def centre_cosines(emb: torch.Tensor, centres: torch.Tensor, subcenters: int) -> torch.Tensor:
    """(N, identities): cosine of each embedding to each identity's closest of its `subcenters`
    consecutive rows of `centres` (identities * subcenters, dim)."""
    cos = F.normalize(emb, dim=1) @ F.normalize(centres, dim=1).T
    return cos.view(len(emb), -1, subcenters).amax(dim=2)


class MarginSoftmax(nn.Module):
    """The identity centres and the margin-softmax cross-entropy of embeddings against them."""

    def __init__(self, dim: int, identities: int, kind: str, scale: float, margin: float, subcenters: int = 1):
        super().__init__()
        if identities < 2:
            raise ValueError(f"a margin softmax needs at least 2 training identities, got {identities}")
        self.kind, self.scale, self.margin = kind, scale, margin
        self.subcenters = subcenters if kind == "subcenter_arcface" else 1
        self.centres = nn.Parameter(torch.randn(identities * self.subcenters, dim) * 0.01)

    @property
    def identities(self) -> int:
        return self.centres.shape[0] // self.subcenters

    def cosines(self, emb: torch.Tensor) -> torch.Tensor:
        """(N, identities): cosine of each embedding to each identity's (closest) centre."""
        return centre_cosines(emb, self.centres, self.subcenters)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = margin_logits(self.cosines(emb.float()), labels, self.kind, self.scale, self.margin)
        return F.cross_entropy(logits, labels)
