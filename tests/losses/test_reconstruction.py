"""Per-sample reconstruction terms: Charbonnier, 1 - SSIM, Sobel gradient L1, optional perceptual."""

from __future__ import annotations

import math

import pytest
import torch

from thz.losses.reconstruction import (
    charbonnier,
    gradient_l1,
    reconstruction_terms,
    sharpness_ratio,
    sobel,
    ssim_per_sample,
)


def images(batch: int = 3, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(seed))


def vertical_edge(size: int = 16) -> torch.Tensor:
    """(1, 1, size, size): left half 0, right half 1 (an edge running top to bottom)."""
    x = torch.zeros(1, 1, size, size)
    x[..., size // 2 :] = 1.0
    return x


def test_charbonnier_of_identical_images_is_sqrt_eps():
    x = images()
    torch.testing.assert_close(charbonnier(x, x), torch.full((3,), math.sqrt(1e-6)))
    torch.testing.assert_close(charbonnier(x, x, eps=1e-2), torch.full((3,), 0.1))


def test_charbonnier_of_a_constant_error():
    x = images(2)
    got = charbonnier(x + 0.3, x, eps=1e-4)
    torch.testing.assert_close(got, torch.full((2,), math.sqrt(0.09 + 1e-4)))
    pred = x.clone().requires_grad_(True)
    charbonnier(pred, x).sum().backward()  # eps inside the root: finite gradient at zero error
    assert torch.isfinite(pred.grad).all()


def test_charbonnier_is_per_sample():
    x = images(2)
    pred = x.clone()
    pred[1] += 0.5
    got = charbonnier(pred, x, eps=0.0)
    assert got[0].item() == pytest.approx(0.0, abs=1e-7)
    assert got[1].item() == pytest.approx(0.5, abs=1e-6)


def test_ssim_term_is_zero_for_identical_images_and_positive_otherwise():
    x, y = images(seed=0), images(seed=1)
    same = reconstruction_terms(x, x)["ssim"]
    torch.testing.assert_close(same, torch.zeros(3), atol=1e-5, rtol=0)
    different = reconstruction_terms(y, x)["ssim"]
    assert (different > 0.1).all()
    torch.testing.assert_close(1.0 - ssim_per_sample(y, x), different)


def test_gradient_l1_ignores_a_constant_offset():
    x = images() * 0.5
    torch.testing.assert_close(gradient_l1(x + 0.3, x), torch.zeros(3), atol=1e-6, rtol=0)


def test_gradient_l1_is_positive_for_different_edges():
    edge = vertical_edge()
    flat = torch.zeros_like(edge)
    horizontal = edge.transpose(-1, -2)
    assert gradient_l1(edge, flat).item() > 0
    assert gradient_l1(edge, horizontal).item() > 0
    assert gradient_l1(edge, edge).item() == 0


def test_sobel_of_a_vertical_edge_responds_in_the_x_channel():
    response = sobel(vertical_edge())
    assert response.shape == (1, 2, 16, 16)
    gx, gy = response[0, 0], response[0, 1]
    assert torch.equal(gy, torch.zeros_like(gy))
    # the two columns either side of the step see (1 + 2 + 1) x (1 - 0) = 4; elsewhere flat
    assert torch.equal(gx[:, 7:9], torch.full((16, 2), 4.0))
    assert gx[:, :7].abs().sum() == 0 and gx[:, 9:].abs().sum() == 0
    # and a horizontal edge in the y channel
    response = sobel(vertical_edge().transpose(-1, -2))
    assert response[0, 0].abs().sum() == 0 and response[0, 1].abs().sum() > 0


def test_sobel_keeps_the_size_with_replicate_padding():
    x = torch.full((2, 1, 10, 12), 0.7)
    torch.testing.assert_close(sobel(x), torch.zeros(2, 2, 10, 12))  # no border artefacts


def test_reconstruction_terms_are_per_sample():
    pred, target = images(seed=0), images(seed=1)
    terms = reconstruction_terms(pred, target)
    assert set(terms) == {"charbonnier", "ssim", "gradient"}
    for name, value in terms.items():
        assert value.shape == (3,), name
        assert torch.isfinite(value).all() and (value > 0).all(), name
    torch.testing.assert_close(terms["charbonnier"], charbonnier(pred, target))
    torch.testing.assert_close(terms["gradient"], gradient_l1(pred, target))


def test_reconstruction_terms_with_a_perceptual_callable():
    pred, target = images(seed=0), images(seed=1)
    seen = []

    def perceptual(p, t):
        seen.append((p, t))
        return (p - t).abs().flatten(1).mean(1)

    terms = reconstruction_terms(pred, target, perceptual=perceptual)
    assert set(terms) == {"charbonnier", "ssim", "gradient", "lpips"}
    assert terms["lpips"].shape == (3,)
    assert len(seen) == 1 and seen[0][0] is pred and seen[0][1] is target
    torch.testing.assert_close(terms["lpips"], (pred - target).abs().flatten(1).mean(1))


def test_sharpness_ratio_is_one_for_the_target_and_falls_with_blur():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 32, 32, generator=g)
    blurred = torch.nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
    ratio = sharpness_ratio(target, target)
    torch.testing.assert_close(ratio, torch.ones(3))
    assert (sharpness_ratio(blurred, target) < 0.7).all()
    assert (sharpness_ratio(torch.full_like(target, 0.5), target) == 0).all()  # flat: no detail at all
