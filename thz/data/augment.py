"""THz training augmentations as batched tensor operations, reproducible from an explicit torch.Generator.

One call augments a whole batch of (input, target) pairs, shaped (B, C, H, W) with values in [0, 1]:

1. Geometry, shared by input and target. Each sample gets one random affine map (rotation, isotropic scale,
   translation and a random-resized crop expressed as a zoom by 1/sqrt(area) about a random centre that keeps
   the crop inside the image). Input and target channels are concatenated and warped by a single
   `F.affine_grid` + `F.grid_sample` call (bilinear, zero padding), so the pair stays pixel-aligned.
   The published loader applied geometry to the input only, which left the reconstruction target
   misaligned with its input; here both are transformed identically.
2. Noise, input only: additive Gaussian noise with a per-sample sigma (the published "speckle" is this
   additive noise), or with `speckle=True` true multiplicative speckle, x * (1 + sigma * N(0, 1)) per pixel,
   which leaves zero pixels at zero.
3. Occlusion, input only: horizontal stripes, cutout patches and one horizontal or vertical band are set to
   exactly 0 (applied after the noise, so dropped pixels stay 0). The input is clamped to [0, 1] at the end;
   the target is never occluded, noised or clamped.

Random numbers are drawn in a fixed order, geometry first, so a profile with occlusion and noise switched off
produces exactly the same geometry (and the same targets) as the full profile from the same generator state.
Masks are built by comparing coordinate grids with per-sample random bounds; the only Python loops run over
the few stripes or patches, never over samples.

Pixel sizes in the profiles (stripe, patch and band widths, translations) are defined at 64 x 64 and are scaled
by H / 64 vertically and W / 64 horizontally for other image sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

REFERENCE_SIZE = 64  # image size at which the pixel values of the profiles are defined


@dataclass(frozen=True)
class AugmentProfile:
    """Every augmentation parameter; the defaults are the identity ("none")."""

    # geometry, shared by input and target
    rotation: tuple[float, float] = (0.0, 0.0)  # degrees, counter-clockwise positive (as torchvision)
    scale: tuple[float, float] = (1.0, 1.0)  # isotropic; > 1 enlarges the content
    translation: tuple[float, float] = (0.0, 0.0)  # pixels at 64 px, drawn independently for x and y
    crop_area: tuple[float, float] = (1.0, 1.0)  # random-resized crop: kept area fraction, in (0, 1]
    # occlusion, input only (pixels set to 0)
    stripe_p: float = 0.0  # probability per sample of stripe masking
    stripe_width: tuple[int, int] = (0, 0)  # pixels at 64 px, per stripe
    stripe_max: int = 0  # 1 to stripe_max horizontal stripes when a sample is striped
    cutout_p: float = 0.0  # probability per sample of cutout
    cutout_count: tuple[int, int] = (0, 0)  # number of square patches when a sample is cut out
    cutout_size: tuple[int, int] = (0, 0)  # patch side, pixels at 64 px
    band_p: float = 0.0  # probability per sample of one horizontal or vertical band
    band_width: tuple[int, int] = (0, 0)  # pixels at 64 px
    # noise, input only
    noise_sigma: tuple[float, float] = (0.0, 0.0)  # per-sample sigma, additive (or speckle, see augment_pair_batch)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                if len(value) != 2 or value[0] > value[1]:
                    raise ValueError(f"AugmentProfile.{f.name} must be a (lo, hi) pair with lo <= hi, got {value}")
                if f.name not in ("rotation", "translation") and value[0] < 0:
                    raise ValueError(f"AugmentProfile.{f.name} must not be negative, got {value}")
            elif f.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ValueError(f"AugmentProfile.{f.name} is a probability, got {value}")
        if self.scale[0] <= 0:
            raise ValueError(f"AugmentProfile.scale must be positive, got {self.scale}")
        if not 0.0 < self.crop_area[0] <= self.crop_area[1] <= 1.0:
            raise ValueError(f"AugmentProfile.crop_area must lie in (0, 1], got {self.crop_area}")
        if self.stripe_max < 0:
            raise ValueError(f"AugmentProfile.stripe_max must not be negative, got {self.stripe_max}")

    @property
    def has_geometry(self) -> bool:
        return (
            self.rotation != (0.0, 0.0)
            or self.scale != (1.0, 1.0)
            or self.translation != (0.0, 0.0)
            or self.crop_area != (1.0, 1.0)
        )

    @property
    def has_stripes(self) -> bool:
        return self.stripe_p > 0 and self.stripe_max > 0 and self.stripe_width[1] > 0

    @property
    def has_cutout(self) -> bool:
        return self.cutout_p > 0 and self.cutout_count[1] > 0 and self.cutout_size[1] > 0

    @property
    def has_band(self) -> bool:
        return self.band_p > 0 and self.band_width[1] > 0

    @property
    def has_noise(self) -> bool:
        return self.noise_sigma[1] > 0

    @property
    def is_identity(self) -> bool:
        return not (self.has_geometry or self.has_stripes or self.has_cutout or self.has_band or self.has_noise)


# the published loader values; pixel sizes at 64 x 64
PROFILES: dict[str, AugmentProfile] = {
    "none": AugmentProfile(),
    "gentle": AugmentProfile(
        rotation=(-10.0, 10.0),
        scale=(0.9, 1.1),
        crop_area=(0.9, 1.0),
        stripe_p=0.2,
        stripe_width=(2, 4),
        stripe_max=3,
        noise_sigma=(0.05, 0.10),
    ),
    "medium": AugmentProfile(
        rotation=(-20.0, 20.0),
        scale=(0.9, 1.1),
        translation=(-5.0, 5.0),
        crop_area=(0.7, 1.0),
        stripe_p=0.2,
        stripe_width=(2, 4),
        stripe_max=3,
        cutout_p=0.3,
        cutout_count=(2, 4),
        cutout_size=(8, 16),
        band_p=0.3,
        band_width=(4, 12),
        noise_sigma=(0.05, 0.15),
    ),
    "strong": AugmentProfile(
        rotation=(-30.0, 30.0),
        scale=(0.8, 1.2),
        translation=(-10.0, 10.0),
        crop_area=(0.6, 1.0),
        stripe_p=0.4,
        stripe_width=(4, 8),
        stripe_max=5,
        cutout_p=0.5,
        cutout_count=(4, 6),
        cutout_size=(8, 20),
        band_p=0.5,
        band_width=(8, 16),
        noise_sigma=(0.10, 0.20),
    ),
}


VISIBLE_KEYS = ("visible_input", "visible_target")


def augment_pair_batch(
    batch: dict[str, Tensor], profile: AugmentProfile, generator: torch.Generator, speckle: bool = False
) -> dict[str, Tensor]:
    """Augmented copies of a dataset batch (input and target (B, C, H, W); the batch is not modified).

    Geometry is shared by each input and its target; noise and occlusion touch the input only, which is
    clamped to [0, 1]. `speckle=True` makes the noise multiplicative. Visible images, when present
    (of any channel count and size), follow the geometry of their THz capture (the modalities stay
    aligned) but get no THz noise or occlusion, and do not change the THz images' random draws. The
    "none" profile (any identity profile) returns unchanged copies without drawing from the generator."""
    companions = tuple(batch[k] for k in VISIBLE_KEYS if k in batch)
    x, y, warped = _augment(batch["input"], batch["target"], companions, profile, generator, speckle)
    out = {**batch, "input": x, "target": y}
    out.update(zip([k for k in VISIBLE_KEYS if k in batch], warped, strict=True))
    return out


def _augment(inputs, targets, companions, profile, generator, speckle):
    _check_batch(inputs, targets)
    for companion in companions:
        _check_companion(inputs, companion)
    if profile.is_identity:
        return inputs.clone(), targets.clone(), tuple(c.clone() for c in companions)
    batch, _, height, width = inputs.shape
    device = inputs.device

    # geometry draws come first, whatever else the profile does
    theta = _random_affine(profile, batch, height, width, generator).to(device=device, dtype=inputs.dtype)
    if profile.has_geometry:
        both = torch.cat([inputs, targets.to(inputs.dtype)], dim=1)
        grid = F.affine_grid(theta, list(both.shape), align_corners=False)
        both = F.grid_sample(both, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x, y = both[:, : inputs.shape[1]].contiguous(), both[:, inputs.shape[1] :].to(targets.dtype).contiguous()
        companions = tuple(_warp(c, theta) for c in companions)
    else:
        x, y = inputs.clone(), targets.clone()
        companions = tuple(c.clone() for c in companions)

    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    fy, fx = height / REFERENCE_SIZE, width / REFERENCE_SIZE
    masks = []  # broadcastable to (B, H, W), True where the input is dropped to 0
    if profile.has_stripes:
        masks.append(_stripe_mask(profile, batch, rows, fy, generator)[:, :, None])
    if profile.has_cutout:
        masks.append(_cutout_mask(profile, batch, rows, cols, fy, fx, generator))
    if profile.has_band:
        masks.append(_band_mask(profile, batch, rows, cols, fy, fx, generator))

    if profile.has_noise:  # x is a fresh tensor here, so it is modified in place
        sigma = _uniform(profile.noise_sigma, (batch, 1, 1, 1), generator).to(device=device, dtype=x.dtype)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device).to(device)
        if speckle:
            x.mul_(noise.mul_(sigma).add_(1.0))
        else:
            x.add_(noise.mul_(sigma))
    for mask in masks:
        x.masked_fill_(mask[:, None], 0.0)
    return x.clamp_(0.0, 1.0), y, companions


def _warp(images: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _check_batch(inputs: Tensor, targets: Tensor) -> None:
    if inputs.ndim != 4 or targets.ndim != 4:
        raise ValueError(f"expected (B, C, H, W) tensors, got {tuple(inputs.shape)} and {tuple(targets.shape)}")
    if inputs.shape[0] != targets.shape[0] or inputs.shape[2:] != targets.shape[2:]:
        raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} differ in B, H or W")
    if not (inputs.is_floating_point() and targets.is_floating_point()):
        raise TypeError(f"expected floating-point images, got {inputs.dtype} and {targets.dtype}")
    if inputs.device != targets.device:
        raise ValueError(f"inputs on {inputs.device} but targets on {targets.device}")


def _check_companion(inputs: Tensor, visible: Tensor) -> None:
    """A visible image may have its own channels and size (the warp is in normalised coordinates),
    but one per input, floating-point and on the same device."""
    if visible.ndim != 4 or visible.shape[0] != inputs.shape[0]:
        raise ValueError(f"visible images {tuple(visible.shape)} do not match the inputs {tuple(inputs.shape)}")
    if not visible.is_floating_point():
        raise TypeError(f"expected floating-point visible images, got {visible.dtype}")
    if visible.device != inputs.device:
        raise ValueError(f"inputs on {inputs.device} but visible images on {visible.device}")


def _uniform(bounds: tuple[float, float], shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """float64 uniform samples in [lo, hi] on the generator's device."""
    lo, hi = bounds
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return lo + u * (hi - lo)


def _randint(lo: Tensor | int, hi: Tensor | int, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """int64 samples uniform in [lo, hi] (inclusive, elementwise bounds allowed) on the generator's device."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
    lo = torch.as_tensor(lo, device=generator.device)
    hi = torch.as_tensor(hi, device=generator.device)
    return torch.minimum(lo + torch.floor(u * (hi - lo + 1)).long(), hi)


def _pixels(bounds: tuple[int, int], factor: float, size: int) -> tuple[int, int]:
    """A pixel range defined at 64 px, scaled to this image size: at least 1 px when positive, at most size."""
    lo, hi = (min(size, max(1, round(v * factor))) if v > 0 else 0 for v in bounds)
    return lo, hi


def _random_affine(profile: AugmentProfile, batch: int, height: int, width: int, generator) -> Tensor:
    """(B, 2, 3) float64 affine_grid matrices mapping output to source coordinates (align_corners=False).

    Forward, the content is first cropped (side fraction c = sqrt(area), centre u in normalised units) and
    zoomed to full size, then rotated by the angle and scaled by s about the centre, then shifted by t pixels.
    The rotation and scale act in pixel units, so non-square images are not sheared.
    """
    u = torch.rand((batch, 7), generator=generator, dtype=torch.float64, device=generator.device).cpu()

    def between(bounds, col):
        return bounds[0] + u[:, col] * (bounds[1] - bounds[0])

    angle = torch.deg2rad(between(profile.rotation, 0))
    s = between(profile.scale, 1)
    tx = between(profile.translation, 2) * (width / REFERENCE_SIZE)
    ty = between(profile.translation, 3) * (height / REFERENCE_SIZE)
    c = between(profile.crop_area, 4).sqrt()
    # the outermost sampled pixel centres stay inside the image's pixel centres: no blending with the padding
    ux = (2 * u[:, 5] - 1) * (1 - c) * (1 - 1 / width)
    uy = (2 * u[:, 6] - 1) * (1 - c) * (1 - 1 / height)

    # inverse of the counter-clockwise (on screen, y pointing down) rotation by `angle`, with scale s
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    a00, a01, a10, a11 = cos, -sin, sin, cos
    half_w, half_h = width / 2, height / 2
    theta = torch.empty(batch, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = c * a00
    theta[:, 0, 1] = c * a01 * half_h / half_w
    theta[:, 1, 0] = c * a10 * half_w / half_h
    theta[:, 1, 1] = c * a11
    theta[:, 0, 2] = -c * (a00 * tx + a01 * ty) / half_w + ux
    theta[:, 1, 2] = -c * (a10 * tx + a11 * ty) / half_h + uy
    return theta


def _stripe_mask(profile: AugmentProfile, batch: int, rows: Tensor, fy: float, generator) -> Tensor:
    """(B, H) rows to zero: with probability stripe_p, 1 to stripe_max horizontal stripes per sample."""
    height = rows.numel()
    n_max = profile.stripe_max
    wlo, whi = _pixels(profile.stripe_width, fy, height)
    apply = torch.rand(batch, generator=generator, device=generator.device) < profile.stripe_p
    count = _randint(1, n_max, (batch,), generator)
    widths = _randint(wlo, whi, (batch, n_max), generator)
    tops = _randint(0, height - widths, (batch, n_max), generator)
    active = apply[:, None] & (torch.arange(n_max, device=generator.device) < count[:, None])
    tops, widths, active = (t.to(rows.device) for t in (tops, widths, active))
    inside = (rows >= tops[..., None]) & (rows < (tops + widths)[..., None]) & active[..., None]  # (B, N, H)
    return inside.any(dim=1)


def _cutout_mask(profile: AugmentProfile, batch: int, rows: Tensor, cols: Tensor, fy: float, fx: float, generator):
    """(B, H, W) pixels to zero: with probability cutout_p, cutout_count square patches inside the image."""
    height, width = rows.numel(), cols.numel()
    n_max = profile.cutout_count[1]
    hlo, hhi = _pixels(profile.cutout_size, fy, height)
    wlo, whi = _pixels(profile.cutout_size, fx, width)
    apply = torch.rand(batch, generator=generator, device=generator.device) < profile.cutout_p
    count = _randint(profile.cutout_count[0], n_max, (batch,), generator)
    side = torch.rand((batch, n_max), generator=generator, dtype=torch.float64, device=generator.device)
    heights = torch.clamp(hlo + torch.floor(side * (hhi - hlo + 1)).long(), max=hhi)  # square at 64 px
    widths = torch.clamp(wlo + torch.floor(side * (whi - wlo + 1)).long(), max=whi)
    tops = _randint(0, height - heights, (batch, n_max), generator)
    lefts = _randint(0, width - widths, (batch, n_max), generator)
    active = apply[:, None] & (torch.arange(n_max, device=generator.device) < count[:, None])
    tops, lefts, heights, widths, active = (t.to(rows.device) for t in (tops, lefts, heights, widths, active))
    mask = torch.zeros(batch, height, width, dtype=torch.bool, device=rows.device)
    for k in range(n_max):
        in_rows = (rows >= tops[:, k, None]) & (rows < (tops + heights)[:, k, None]) & active[:, k, None]
        in_cols = (cols >= lefts[:, k, None]) & (cols < (lefts + widths)[:, k, None])
        mask |= in_rows[:, :, None] & in_cols[:, None, :]
    return mask


def _band_mask(profile: AugmentProfile, batch: int, rows: Tensor, cols: Tensor, fy: float, fx: float, generator):
    """(B, H, W) pixels to zero: with probability band_p, one full-length horizontal or vertical band."""
    height, width = rows.numel(), cols.numel()
    hlo, hhi = _pixels(profile.band_width, fy, height)
    wlo, whi = _pixels(profile.band_width, fx, width)
    apply = torch.rand(batch, generator=generator, device=generator.device) < profile.band_p
    vertical = torch.rand(batch, generator=generator, device=generator.device) < 0.5
    side = torch.rand(batch, generator=generator, dtype=torch.float64, device=generator.device)
    h_width = torch.clamp(hlo + torch.floor(side * (hhi - hlo + 1)).long(), max=hhi)  # horizontal band: rows
    v_width = torch.clamp(wlo + torch.floor(side * (whi - wlo + 1)).long(), max=whi)  # vertical band: columns
    pos = torch.rand(batch, generator=generator, dtype=torch.float64, device=generator.device)
    h_top = torch.floor(pos * (height - h_width + 1)).long()
    v_left = torch.floor(pos * (width - v_width + 1)).long()
    apply, vertical, h_width, v_width, h_top, v_left = (
        t.to(rows.device) for t in (apply, vertical, h_width, v_width, h_top, v_left)
    )
    in_rows = (rows >= h_top[:, None]) & (rows < (h_top + h_width)[:, None]) & (apply & ~vertical)[:, None]
    in_cols = (cols >= v_left[:, None]) & (cols < (v_left + v_width)[:, None]) & (apply & vertical)[:, None]
    return in_rows[:, :, None] | in_cols[:, None, :]


__all__ = ["PROFILES", "REFERENCE_SIZE", "AugmentProfile", "augment_pair_batch"]
