"""THz encoders: four feature maps at 1/2, 1/4, 1/8 and 1/16 of the input (32, 16, 8, 4 px at 64).

`unet` is the published design (stem 1 -> width, four residual down-sampling stages to 8 x width).
`resnet18` is torchvision's ResNet-18 with a 1-channel 3x3 stride-2 stem and no max-pool, so a
64 px image still ends at 4x4 (the published stem met a 2x2 map and broke the 4x4 reduction).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from thz.models.blocks import ResidualDown, conv_bn_act

RESNET18_FILE = "resnet18-f37072fd.pth"


class UNetEncoder(nn.Module):
    def __init__(self, width: int = 64, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))
        widths = [width, width, 2 * width, 4 * width, 8 * width]
        self.stages = nn.ModuleList(ResidualDown(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.channels = tuple(widths[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, in_channels, H, W) -> [(B, w, H/2, W/2), (B, 2w, H/4, ..), (B, 4w, H/8, ..), (B, 8w, H/16, ..)]."""
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class ResNet18Encoder(nn.Module):
    """Channels are ResNet-18's own (64, 128, 256, 512) whatever `width` says. ImageNet weights are
    loaded (all but the 1-channel stem) only if torchvision's file is already in the local cache."""

    def __init__(self, width: int = 64, in_channels: int = 1):
        super().__init__()
        import torchvision  # here, not at the top: it costs every stage about a second to import

        net = torchvision.models.resnet18(weights=None)
        cached = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE
        if cached.exists():
            state = torch.load(cached, map_location="cpu", weights_only=True)
            net.load_state_dict({k: v for k, v in state.items() if not k.startswith("conv1.")}, strict=False)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 2, 1, bias=False), net.bn1, net.relu)
        self.stages = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.channels = (64, 128, 256, 512)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)  # (B, 64, H/2, W/2); layer1 keeps the size, the others halve it
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


ENCODERS = {"unet": UNetEncoder, "resnet18": ResNet18Encoder}


class ScaledEncoder(nn.Module):
    """An encoder for images `scale` (a power of 2) times the THz size, with `in_channels`
    channels: its own stem of stride-2 conv-BN-LReLU stages brings them down to the THz size, so
    its feature maps (and the 4x4 bottleneck the teacher fuses) have the THz encoder's shapes."""

    def __init__(self, encoder: str, width: int, in_channels: int, scale: int):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of 2 above 1, got {scale}")
        stages, c = [], in_channels
        while scale > 1:
            stages.append(conv_bn_act(c, width, stride=2))
            c, scale = width, scale // 2
        self.downscale = nn.Sequential(*stages)
        self.encoder = ENCODERS[encoder](width, in_channels=width)
        self.channels = self.encoder.channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(self.downscale(x))
