"""Adversarial completion: a patch discriminator trained against the decoder, with its own
optimiser and step, beside the task losses (loss.adversarial is the decoder's weight; 0: off,
nothing built).

Two standard losses on patch logits: "hinge" (Lim & Ye 2017; SAGAN, BigGAN) and "lsgan"
(least squares, Mao et al. 2017). The discriminator is conditional by default: it sees the concealed
input beside the image, so it can judge whether a completion fits what the scanner saw.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thz.distributed import average_gradients, mean_over_ranks
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
    """The discriminator, how it is asked, and its own Adam optimiser (beta1 0.5, as GANs use). The
    task objective remembers the reconstructions of each training step (`remember`) and, called by the
    training loop after the decoder's step (Objective.after_step), steps the discriminator on them."""

    def __init__(self, kind: str, conditional: bool, width: int = 32):
        self.kind, self.conditional = kind, conditional
        self.discriminator = PatchDiscriminator(2 if conditional else 1, width)
        # its learning rate is set at every step (the model's, thz.train.loop); saved in last.pt
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), betas=(0.5, 0.999))
        self._fakes: tuple[torch.Tensor, ...] | None = None  # (recon, target, input) of the last training batch

    def logits(self, image: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image, concealed], dim=1) if self.conditional else image
        return self.discriminator(x)

    def generator_loss(self, recon: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        return generator_loss(self.logits(recon, concealed).float(), self.kind)

    def discriminator_loss(self, recon: torch.Tensor, target: torch.Tensor, concealed: torch.Tensor) -> torch.Tensor:
        real = self.logits(target, concealed).float()
        fake = self.logits(recon.detach(), concealed).float()
        return discriminator_loss(real, fake, self.kind)

    def remember(self, recon: torch.Tensor, target: torch.Tensor, concealed: torch.Tensor) -> None:
        """The reconstructions (detached) of a training batch, for the discriminator's next step."""
        self._fakes = (recon.detach().float(), target, concealed)

    def step(self, lr: float, grad_clip: float) -> float | None:
        """One step of the discriminator on the reconstructions remembered last (each is used once; None
        when there are none), at learning rate `lr` with gradients clipped to `grad_clip` (0: not
        clipped), in fp32 (it is small, and fp16 would need its own gradient scaler); gradients averaged
        over the training processes. Returns its loss, averaged over them."""
        if self._fakes is None:
            return None
        recon, target, concealed = self._fakes
        self._fakes = None
        parameters = list(self.discriminator.parameters())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(recon.device.type, enabled=False):
            loss = self.discriminator_loss(recon.float(), target.float(), concealed.float())
        loss.backward()
        average_gradients(parameters)
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip or float("inf"))
        self.optimizer.step()
        return float(mean_over_ranks(loss.detach().float().reshape(1))[0])
