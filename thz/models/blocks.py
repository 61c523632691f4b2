"""Small convolutional building blocks shared by the encoders and the decoder."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_act(c_in: int, c_out: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    """3x3 conv (no bias: BN follows), BatchNorm, LeakyReLU(0.2)."""
    layers = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class ResidualDown(nn.Module):
    """Halve the resolution: 3x3 stride-2 conv-BN-LReLU, 3x3 conv-BN, plus a shortcut (2x2 average
    pool when channels match, else 1x1 stride-2 conv + BN), then LeakyReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(c_in, c_out, stride=2), conv_bn_act(c_out, c_out, act=False))
        if c_in == c_out:
            self.shortcut = nn.AvgPool2d(2)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 2, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (growth `growth`), 1x1 fusion, residual scaled by 0.5."""

    def __init__(self, channels: int, growth: int, layers: int = 5):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels + i * growth, growth, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))
            for i in range(layers)
        )
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(conv(torch.cat(features, dim=1)))
        return x + 0.5 * self.fuse(torch.cat(features, dim=1))


class PixelShuffle(nn.PixelShuffle):
    """nn.PixelShuffle that also back-propagates through an empty batch (PyTorch 2.14's backward
    returns the output's shape there). Distributed training runs an expert on an empty share when
    another process routes images to it (thz.models.moe_unet)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:
            r = self.upscale_factor
            return x.reshape(0, x.shape[1] // (r * r), x.shape[2] * r, x.shape[3] * r)
        return super().forward(x)


class UpStep(nn.Module):
    """x2 upsampling by PixelShuffle (conv to 4*c_out channels, shuffle), then fuse an optional skip."""

    def __init__(self, c_in: int, c_out: int, c_skip: int = 0):
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(c_in, 4 * c_out, 3, 1, 1), PixelShuffle(2), nn.LeakyReLU(0.2, True))
        self.fuse = conv_bn_act(c_out + c_skip, c_out) if c_skip else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        return self.fuse(torch.cat([x, skip], dim=1)) if skip is not None else x
