"""Adversarial completion: a patch discriminator trained against the decoder, with its own
optimiser, beside the task losses (loss.adversarial is the decoder's weight; 0: off, nothing built).

Two standard losses on patch logits: "hinge" (Lim & Ye 2017; SAGAN, BigGAN) and "lsgan"
(least squares, Mao et al. 2017). The discriminator is conditional by default: it sees the concealed
input beside the image, so it can judge whether a completion fits what the scanner saw.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thz.models.discriminator import PatchDiscriminator


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The discriminator's loss on logits of real (unconcealed) and fake (reconstructed) images."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1).square().mean() + fake.square().mean())
    raise ValueError(f"loss.adversarial_loss must be hinge or lsgan, got {kind!r}")


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The decoder's adversarial loss on the discriminator's logits of its reconstructions."""
    if kind == "hinge":
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * (fake - 1).square().mean()
    raise ValueError(f"loss.adversarial_loss must be hinge or lsgan, got {kind!r}")


class Adversary:
    """The discriminator and how it is asked. The engine gives it its own optimiser (thz.train.loop)
    and steps it after every decoder step on the reconstructions of that step (detached)."""

    def __init__(self, kind: str, conditional: bool, width: int = 32):
        self.kind, self.conditional = kind, conditional
        self.discriminator = PatchDiscriminator(2 if conditional else 1, width)

    def logits(self, image: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image, concealed], dim=1) if self.conditional else image
        return self.discriminator(x)

    def generator_loss(self, recon: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        return generator_loss(self.logits(recon, concealed).float(), self.kind)

    def discriminator_loss(self, recon: torch.Tensor, target: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        real = self.logits(target, concealed).float()
        fake = self.logits(recon.detach(), concealed).float()
        return discriminator_loss(real, fake, self.kind)
