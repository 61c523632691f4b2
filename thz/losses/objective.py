"""The multi-task objective: one forward pass, every unweighted part, one weighted sum.

Returns a dict with "loss" (the weighted total) and each part ("supcon" or "triplet", "posture",
"recon" and its terms "charbonnier", "ssim", "gradient", "lpips", and "moe_balance"), so the
engine can log all of them. Each image is encoded once: concealed inputs and their unconcealed
targets go through the encoder together; only the inputs are decoded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thz.config import LossConfig
from thz.losses.reconstruction import reconstruction_terms
from thz.losses.supcon import supcon_loss, triplet_loss

RECON_TERMS = ("charbonnier", "ssim", "gradient", "lpips")


class MultiTaskObjective:
    """Verification (SupCon or triplet on identity labels over inputs and targets), posture
    (label-smoothed cross-entropy on all images), reconstruction of the target from the input."""

    def __init__(self, model: torch.nn.Module, cfg: LossConfig, perceptual=None):
        self.model, self.cfg = model, cfg
        self.perceptual = perceptual if cfg.lpips > 0 else None

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch: input (B, 1, H, W) concealed, target (B, 1, H, W) unconcealed, identity (B,), posture (B,)."""
        n = batch["input"].shape[0]
        images = torch.cat([batch["input"], batch["target"]])  # (2B, 1, H, W)
        identity = torch.cat([batch["identity"], batch["identity"]])
        posture = torch.cat([batch["posture"], batch["posture"]])
        out = self.model(images, posture, decode=n)
        with torch.autocast("cpu", enabled=False):  # bf16 autocast is for the network, not for SSIM or SupCon
            return self._parts(out, batch, identity, posture)

    def _parts(self, out, batch, identity, posture) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        parts: dict[str, torch.Tensor] = {}
        if cfg.metric == "supcon":
            parts["supcon"] = supcon_loss(out.emb.float(), identity, cfg.temperature)
        else:
            parts["triplet"] = triplet_loss(out.emb.float(), identity, cfg.triplet_margin)
        parts["posture"] = F.cross_entropy(out.posture_logits.float(), posture, label_smoothing=cfg.label_smoothing)
        terms = reconstruction_terms(out.recon.float(), batch["target"].float(), self.perceptual)
        parts.update({name: value.mean() for name, value in terms.items()})
        parts["recon"] = sum(getattr(cfg, name) * parts[name] for name in RECON_TERMS if name in parts)
        parts["moe_balance"] = out.moe.balance_loss
        parts["loss"] = (
            cfg.supcon * parts.get("supcon", parts.get("triplet"))
            + cfg.posture * parts["posture"]
            + cfg.recon * parts["recon"]
        )
        return parts
