"""Batched THz augmentations: shared geometry, input-only occlusion and noise, reproducibility, pixel scaling."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from thz.data.augment import PROFILES, AugmentProfile, augment_pair_batch

NO_PHOTOMETRY = {"stripe_p": 0.0, "cutout_p": 0.0, "band_p": 0.0, "noise_sigma": (0.0, 0.0)}


def augment_batch(inputs, targets, profile, generator, speckle=False):
    """(input, target) of augment_pair_batch on a THz-only batch."""
    out = augment_pair_batch({"input": inputs, "target": targets}, profile, generator, speckle=speckle)
    return out["input"], out["target"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pattern(batch: int = 8, size: int = 64) -> torch.Tensor:
    """A smooth, asymmetric image (no rotation or flip maps it onto itself), varied per sample."""
    coords = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    base = 0.2 + 0.3 * xx + 0.1 * yy**2
    base[size // 8 : size // 2, size // 4 : size // 4 + size // 8] = 0.9  # an off-centre block
    shift = torch.linspace(0, 0.1, batch)[:, None, None, None]
    return (base[None, None] + shift).clamp(0, 1).float()


def ell(size: int) -> torch.Tensor:
    """(1, 1, size, size) 'L' shape: a vertical bar with a foot to the right, away from the borders."""
    x = torch.zeros(1, 1, size, size)
    q = size // 8
    x[..., 2 * q : 6 * q, 2 * q : 3 * q] = 1.0  # vertical bar
    x[..., 5 * q : 6 * q, 3 * q : 5 * q] = 0.6  # foot
    return x


@pytest.mark.parametrize("name", ["gentle", "medium", "strong"])
def test_geometry_is_shared_by_input_and_target(name):
    target = pattern(batch=32)
    geometry_only = replace(PROFILES[name], **NO_PHOTOMETRY)
    geo_in, geo_tg = augment_batch(target.clone(), target, geometry_only, gen(1))
    assert torch.equal(geo_in, geo_tg)  # one warp for both
    assert not torch.allclose(geo_tg, target, atol=1e-3)  # and it did move things

    # with occlusion and noise on, the target gets exactly the same geometry and nothing else
    full_in, full_tg = augment_batch(target.clone(), target, PROFILES[name], gen(1))
    assert torch.equal(full_tg, geo_tg)
    assert not torch.equal(full_in, geo_in)

    # with occlusion only, every input pixel is either the geometry-only pixel or dropped to 0
    occluded = replace(PROFILES[name], noise_sigma=(0.0, 0.0))
    occ_in, occ_tg = augment_batch(target.clone(), target, occluded, gen(1))
    assert torch.equal(occ_tg, geo_tg)
    assert torch.all((occ_in == geo_in) | (occ_in == 0))
    assert torch.any((occ_in == 0) & (geo_in > 0))


@pytest.mark.parametrize("size", [32, 64])
def test_rotation_by_90_degrees_is_counter_clockwise_rot90(size):
    x = ell(size)
    quarter_turn = AugmentProfile(rotation=(90.0, 90.0))
    out_in, out_tg = augment_batch(x, x.clone(), quarter_turn, gen())
    expected = torch.rot90(x, 1, dims=(-2, -1))
    inner = slice(2, size - 2)
    assert torch.allclose(out_in[..., inner, inner], expected[..., inner, inner], atol=1e-4)
    assert torch.allclose(out_tg[..., inner, inner], expected[..., inner, inner], atol=1e-4)
    clockwise = torch.rot90(x, -1, dims=(-2, -1))
    assert not torch.allclose(out_in, clockwise, atol=0.1)


def test_translation_is_in_pixels_at_64_and_scales_with_the_image():
    x = pattern(batch=2, size=32)
    out, _ = augment_batch(x, x.clone(), AugmentProfile(translation=(4.0, 4.0)), gen())
    # 4 px at 64 px is 2 px at 32 px; positive moves the content right and down
    assert torch.allclose(out[..., 2:, 2:], x[..., :-2, :-2], atol=1e-4)
    assert torch.all(out[..., :2, :] == 0) and torch.all(out[..., :, :2] == 0)


def test_resized_crop_zooms_in_and_stays_inside_the_image():
    ones = torch.ones(16, 1, 32, 32)
    out, _ = augment_batch(ones, ones.clone(), AugmentProfile(crop_area=(0.25, 0.5)), gen())
    assert torch.allclose(out, ones, atol=1e-5)  # never samples the zero padding
    ramp = torch.linspace(0, 1, 32).expand(4, 1, 32, 32).contiguous()
    out, _ = augment_batch(ramp, ramp.clone(), AugmentProfile(crop_area=(0.25, 0.25)), gen())
    # a quarter of the area is a half-size crop zoomed by 2: each output pixel steps half a source pixel
    assert torch.allclose(out.diff(dim=-1), ramp.diff(dim=-1) / 2, atol=1e-5)
    assert torch.allclose(out[..., -1] - out[..., 0], torch.tensor(0.5), atol=1e-5)


def test_same_seed_same_output_other_seed_other_output():
    x = pattern()
    for speckle in (False, True):
        a = augment_batch(x, x.clone(), PROFILES["strong"], gen(7), speckle=speckle)
        b = augment_batch(x, x.clone(), PROFILES["strong"], gen(7), speckle=speckle)
        c = augment_batch(x, x.clone(), PROFILES["strong"], gen(8), speckle=speckle)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


@pytest.mark.parametrize("batch,size", [(1, 32), (1, 64), (5, 32), (5, 64)])
@pytest.mark.parametrize("name", list(PROFILES))
def test_shapes_dtype_range_and_none_is_identity(name, batch, size):
    x = torch.rand(batch, 1, size, size, generator=gen(3))
    y = torch.rand(batch, 1, size, size, generator=gen(4))
    x0, y0 = x.clone(), y.clone()
    out_in, out_tg = augment_batch(x, y, PROFILES[name], gen(), speckle=name == "medium")
    assert torch.equal(x, x0) and torch.equal(y, y0)  # arguments untouched
    for out in (out_in, out_tg):
        assert out.shape == x.shape and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1
    if name == "none":
        assert torch.equal(out_in, x) and torch.equal(out_tg, y)


@pytest.mark.parametrize(
    "op",
    [
        {"stripe_p": 1.0, "stripe_width": (2, 4), "stripe_max": 3},
        {"cutout_p": 1.0, "cutout_count": (2, 4), "cutout_size": (8, 16)},
        {"band_p": 1.0, "band_width": (4, 12)},
    ],
    ids=["stripes", "cutout", "band"],
)
@pytest.mark.parametrize("size", [32, 64])
def test_occlusion_zeroes_input_pixels_only(op, size):
    x = pattern(batch=6, size=size)
    out_in, out_tg = augment_batch(x, x.clone(), AugmentProfile(**op), gen())
    assert torch.equal(out_tg, x)
    dropped = out_in == 0
    assert torch.all(dropped.flatten(1).any(dim=1))  # probability 1: every sample loses some pixels
    assert torch.equal(out_in[~dropped], x[~dropped])  # and nothing else changes


def test_occlusion_shapes_and_pixel_scaling():
    ones = torch.ones(8, 1, 32, 32)
    stripe = AugmentProfile(stripe_p=1.0, stripe_width=(4, 4), stripe_max=1)
    out, _ = augment_batch(ones, ones.clone(), stripe, gen())
    zero_rows = (out == 0).all(dim=-1)
    assert torch.all((out == 0).any(dim=-1) == zero_rows)  # whole rows
    assert torch.all(zero_rows.sum(dim=(1, 2)) == 2)  # 4 px at 64 -> 2 px at 32

    band = AugmentProfile(band_p=1.0, band_width=(8, 8))
    out, _ = augment_batch(torch.ones(32, 1, 32, 32), torch.ones(32, 1, 32, 32), band, gen())
    rows, cols = (out == 0).all(dim=-1).sum(dim=(1, 2)), (out == 0).all(dim=-2).sum(dim=(1, 2))
    assert torch.all((rows == 4) ^ (cols == 4))  # one horizontal or one vertical 4 px band
    assert torch.any(rows == 4) and torch.any(cols == 4)

    cut = AugmentProfile(cutout_p=1.0, cutout_count=(1, 1), cutout_size=(12, 12))
    out, _ = augment_batch(ones, ones.clone(), cut, gen())
    assert torch.all((out == 0).sum(dim=(1, 2, 3)) == 36)  # one 6 x 6 patch, fully inside


def test_noise_is_additive_or_multiplicative_speckle():
    flat = torch.zeros(4, 1, 32, 32)
    flat[..., 16:, :] = 0.2  # bottom half 0.2, top half 0
    double = 2 * flat
    noisy = AugmentProfile(noise_sigma=(0.1, 0.2))
    s1, t1 = augment_batch(flat, flat.clone(), noisy, gen(), speckle=True)
    s2, _ = augment_batch(double, double.clone(), noisy, gen(), speckle=True)
    assert torch.equal(t1, flat)
    assert torch.all(s1[..., :16, :] == 0)  # zeros stay zero under speckle
    assert not torch.equal(s1, flat)
    assert torch.allclose(s2 - double, 2 * (s1 - flat), atol=1e-6)  # deviation proportional to the signal

    a1, _ = augment_batch(flat, flat.clone(), noisy, gen())
    a2, _ = augment_batch(double, double.clone(), noisy, gen())
    unclamped = (a1 > 0) & (a1 < 1) & (a2 > 0) & (a2 < 1)
    assert unclamped[..., 16:, :].float().mean() > 0.5
    assert torch.allclose((a2 - double)[unclamped], (a1 - flat)[unclamped], atol=1e-6)  # same deviation
    assert torch.any(a1[..., :16, :] > 0)  # additive noise lifts zeros


def test_published_profile_values():
    gentle, medium, strong = PROFILES["gentle"], PROFILES["medium"], PROFILES["strong"]
    assert (gentle.rotation, gentle.translation, gentle.crop_area) == ((-10, 10), (0, 0), (0.9, 1.0))
    assert (gentle.cutout_p, gentle.band_p, gentle.noise_sigma) == (0, 0, (0.05, 0.10))
    assert (medium.cutout_count, medium.cutout_size, medium.band_width) == ((2, 4), (8, 16), (4, 12))
    assert (strong.stripe_width, strong.stripe_p, strong.stripe_max) == ((4, 8), 0.4, 5)
    assert (strong.scale, strong.translation, strong.noise_sigma) == ((0.8, 1.2), (-10, 10), (0.10, 0.20))
    assert PROFILES["none"].is_identity and not any(p.is_identity for n, p in PROFILES.items() if n != "none")


def test_invalid_profiles_are_rejected():
    with pytest.raises(ValueError):
        AugmentProfile(rotation=(10.0, -10.0))
    with pytest.raises(ValueError):
        AugmentProfile(stripe_p=1.5)
    with pytest.raises(ValueError):
        AugmentProfile(crop_area=(0.0, 1.0))
