"""A patch discriminator for adversarial completion (the "Look Through Masks" line of work): it
judges overlapping patches of a face image as real (an unconcealed capture) or completed (a
reconstruction), so the decoder is pushed towards sharp, plausible detail instead of the blur that
pixel losses reward."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """Three 4x4 stride-2 convs (width, 2 width, 4 width; LeakyReLU 0.2, no normalisation, so its
    output does not depend on the rest of the batch) and a 3x3 conv to one logit per patch: a 64 px
    image gives an 8 x 8 map, each logit seeing a 22 px receptive field. `in_channels` 2 when the
    concealed input is given beside the image (conditional), else 1."""

    def __init__(self, in_channels: int = 2, width: int = 32):
        super().__init__()
        layers, c = [], in_channels
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c = out
        layers.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_channels, H, W) -> (B, 1, H/8, W/8) patch logits."""
        return self.net(x)
