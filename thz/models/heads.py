"""From the bottleneck map to a latent vector, then to an embedding and posture logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpatialReduction(nn.Module):
    """(B, C, 4, 4) -> (B, C). `conv`: the published 4x4 stride-4 conv + BN + LeakyReLU (a dense
    layer over the 16 positions, C*C*16 weights); `pool`: global average pooling (no weights).
    The published dropout after it is applied by the network on the way into the heads, so the
    latent that distillation matches is the clean one."""

    def __init__(self, channels: int, kind: str = "conv"):
        super().__init__()
        if kind == "conv":
            self.reduce = nn.Sequential(
                nn.Conv2d(channels, channels, 4, 4, bias=False), nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, True)
            )
        elif kind == "pool":
            self.reduce = nn.AdaptiveAvgPool2d(1)
        else:
            raise ValueError(f"model.reduction must be 'conv' or 'pool', got {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (4, 4) and isinstance(self.reduce, nn.Sequential):
            raise ValueError(f"the conv reduction expects a 4x4 bottleneck, got {tuple(x.shape[-2:])}: use 64 px input")
        return self.reduce(x).flatten(1)


class EmbeddingHead(nn.Module):
    """Latent (B, C) -> identity embedding (B, D), L2-normalised (unit norm: cosine = dot product)."""

    def __init__(self, c_in: int, hidden: int, dim: int, dropout: float = 0.5):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(c_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(latent), dim=1)


def scored_embedding(identity: torch.Tensor, twin: torch.Tensor | None, twin_weight: float) -> torch.Tensor:
    """The one embedding verification scores: the identity head's, or with a twin head the two unit
    embeddings side by side, the twin's scaled by sqrt(w) and the whole divided by sqrt(1 + w). Its
    cosine is then (cos_identity + w * cos_twin) / (1 + w), still a dot product of unit vectors, so
    every scorer, threshold and exported graph stays as it is."""
    if twin is None:
        return identity
    return torch.cat([identity, twin * twin_weight**0.5], dim=1) / (1.0 + twin_weight) ** 0.5


def split_scored(scored, twin_weight: float):
    """The two heads' unit embeddings back from a scored one (tensor or array, (N, 2d)), so a
    trained pair of heads can be scored again at another weight without re-encoding."""
    d = scored.shape[1] // 2
    scale = (1.0 + twin_weight) ** 0.5
    return scored[:, :d] * scale, scored[:, d:] * (scale / twin_weight**0.5)
