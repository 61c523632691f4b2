"""Reconstruction of the unconcealed face: a U-Net decoder with one expert per posture.

Each expert turns the 4x4 bottleneck back into a 64 px image through a residual dense block and
four PixelShuffle x2 steps, fusing the encoder's 8x8, 16x16 and 32x32 maps on the way. With hard
routing every sample runs through its own expert only (the batch is partitioned, not masked).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from thz.distributed import distributed_training, sum_over_ranks
from thz.models.blocks import ResidualDenseBlock, UpStep


class MoEOutput(NamedTuple):
    gate_weights: torch.Tensor  # (B, E), rows sum to 1 (one-hot for hard routing)


class ExpertDecoder(nn.Module):
    """Bottleneck (B, c8, 4, 4) and skips -> (B, 1, 16*4, 16*4) in [0, 1] (sigmoid)."""

    def __init__(self, channels: tuple[int, int, int, int], growth: int):
        super().__init__()
        c1, c2, c4, c8 = channels
        d = c8 // 2
        self.entry = nn.Sequential(nn.Conv2d(c8, d, 1), nn.LeakyReLU(0.2, True), ResidualDenseBlock(d, growth))
        self.up8 = UpStep(d, d // 2, c4)  # 4 -> 8, skip (c4 @ 8x8)
        self.up16 = UpStep(d // 2, d // 4, c2)  # 8 -> 16, skip (c2 @ 16x16)
        self.up32 = UpStep(d // 4, d // 8, c1)  # 16 -> 32, skip (c1 @ 32x32)
        self.up64 = UpStep(d // 8, d // 16)  # 32 -> 64
        self.out = nn.Sequential(nn.Conv2d(d // 16, 1, 3, 1, 1), nn.Sigmoid())

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        f32, f16, f8, f4 = features
        x = self.entry(f4)
        x = self.up8(x, f8)
        x = self.up16(x, f16)
        x = self.up32(x, f32)
        return self.out(self.up64(x))


class PostureExperts(nn.Module):
    """One ExpertDecoder per posture; `route` picks experts (hard) or `gate` weighs them (soft)."""

    def __init__(self, channels: tuple[int, int, int, int], experts: int = 5):
        super().__init__()
        growth = max(8, channels[0] // 2)
        self.experts = nn.ModuleList(ExpertDecoder(channels, growth) for _ in range(experts))

    def forward(
        self, features: list[torch.Tensor], route: torch.Tensor | None = None, gate: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, MoEOutput]:
        """Hard: `route` (B,) expert index per sample. Soft: `gate` (B, E) probabilities; every
        expert runs on every sample and the outputs are mixed (E times the decoder cost)."""
        batch = features[0].shape[0]
        n = len(self.experts)
        if gate is not None:
            outs = torch.stack([expert(features) for expert in self.experts], dim=1)  # (B, E, 1, H, W)
            recon = (gate[:, :, None, None, None] * outs).sum(dim=1)
            return recon, MoEOutput(gate)
        if route is None:
            raise ValueError("PostureExperts needs a route (hard routing) or a gate (soft routing)")
        recon = None
        experts = route.unique().tolist()
        if distributed_training(self):
            # every rank runs each expert some rank routes to (an empty share too), so the global
            # BatchNorm of the experts makes the same collective calls everywhere
            counts = sum_over_ranks(torch.bincount(route, minlength=n))
            experts = counts.nonzero().flatten().tolist()
        for e in experts:
            idx = (route == e).nonzero(as_tuple=True)[0]
            out = self.experts[e]([f[idx] for f in features])
            if recon is None:
                recon = out.new_zeros((batch, *out.shape[1:]))
            recon = recon.index_copy(0, idx, out)
        one_hot = nn.functional.one_hot(route, n).float()
        return recon, MoEOutput(one_hot)
