"""Reconstruction terms, per sample (B,), so the objective can weigh, log and group them.

Charbonnier (robust L1), 1 - SSIM (11x11 Gaussian window, sigma 1.5, pytorch-msssim), Sobel
gradient L1 (edges of a sparse THz face matter more than its flat regions), and LPIPS
(thz.losses.perceptual) when its backbone weights are available.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """mean sqrt((pred - target)^2 + eps) per sample; eps inside the root keeps the gradient finite at 0."""
    return torch.sqrt((pred - target) ** 2 + eps).flatten(1).mean(1)


def ssim_per_sample(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM per sample, images in [0, 1], (B, 1, H, W) with H, W >= 11."""
    return ssim(pred.float(), target.float(), data_range=1.0, size_average=False, win_size=11, win_sigma=1.5)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 2, H, W) horizontal and vertical Sobel responses."""
    kx = _SOBEL_X.to(x)
    kernels = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)


def gradient_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (sobel(pred) - sobel(target)).abs().flatten(1).mean(1)


def sharpness_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample, the mean Sobel gradient magnitude of `pred` over that of `target`: 1 is as sharp
    as the real face, below 1 blurrier (what pixel losses favour), above 1 noisier or over-sharpened.
    Needs no download, unlike LPIPS."""
    magnitude = lambda x: sobel(x.float()).square().sum(1).sqrt().flatten(1).mean(1)  # noqa: E731
    return magnitude(pred) / magnitude(target).clamp_min(1e-8)


def reconstruction_terms(pred: torch.Tensor, target: torch.Tensor, perceptual=None) -> dict[str, torch.Tensor]:
    """Unweighted per-sample terms: charbonnier, ssim (as 1 - SSIM), gradient, and lpips if given."""
    terms = {
        "charbonnier": charbonnier(pred, target),
        "ssim": 1.0 - ssim_per_sample(pred, target),
        "gradient": gradient_l1(pred, target),
    }
    if perceptual is not None:
        terms["lpips"] = perceptual(pred, target)
    return terms
