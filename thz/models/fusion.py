"""Dual cross-attention fusion of THz and visible bottlenecks: how the teacher sees both modalities.

Each bottleneck map (B, C, h, w) becomes h*w tokens. Two multi-head cross-attentions run side by
side: visible-guided (queries from visible tokens, keys and values from THz) and THz-guided
(queries from THz, keys and values from visible). Each is pre-normalised and residual; their
outputs are concatenated per token and projected back to C channels (Linear + LayerNorm + ReLU,
the published fusion head), with a residual from the THz tokens so that the fused map stays a THz
map the decoder's THz skips fit. Learned position embeddings are optional (the published block has
none; 16 tokens without positions are a set, not a face).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossAttention(nn.Module):
    """Pre-norm residual cross-attention: queries attend over `context`; (B, N, C) -> (B, N, C)."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(channels)
        self.norm_kv = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)
        out, _ = self.attn(self.norm_q(queries), kv, kv, need_weights=False)
        return queries + out


class CrossAttentionFusion(nn.Module):
    """(THz map, visible map), both (B, C, h, w) -> fused map (B, C, h, w)."""

    def __init__(self, channels: int, heads: int = 8, dropout: float = 0.1, positional: bool = True):
        super().__init__()
        if channels % heads:
            raise ValueError(f"teacher.heads = {heads} must divide the bottleneck channels ({channels})")
        self.visible_guided = CrossAttention(channels, heads, dropout)
        self.thz_guided = CrossAttention(channels, heads, dropout)
        self.merge = nn.Sequential(nn.Linear(2 * channels, channels), nn.LayerNorm(channels), nn.ReLU(inplace=True))
        # one 4x4 grid per modality (the bottleneck of a 64 px image), resized for other sizes
        self.position = nn.Parameter(torch.zeros(2, channels, 4, 4)) if positional else None
        if self.position is not None:
            nn.init.trunc_normal_(self.position, std=0.02)

    def forward(self, thz: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        if thz.shape != visible.shape:
            raise ValueError(f"THz map {tuple(thz.shape)} and visible map {tuple(visible.shape)} differ")
        b, c, h, w = thz.shape
        if self.position is not None:
            position = self.position
            if (h, w) != (4, 4):
                position = F.interpolate(position, size=(h, w), mode="bilinear", align_corners=False)
            thz, visible = thz + position[0], visible + position[1]
        t = thz.flatten(2).transpose(1, 2)  # (B, hw, C)
        v = visible.flatten(2).transpose(1, 2)
        from_visible = self.visible_guided(v, t)  # visible asks, THz answers
        from_thz = self.thz_guided(t, v)  # THz asks, visible answers
        fused = t + self.merge(torch.cat([from_visible, from_thz], dim=2))
        return fused.transpose(1, 2).reshape(b, c, h, w)
