"""LPIPS-VGG loss built offline from a local VGG16 file; fabricated weights stand in for ImageNet ones."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torchvision

from thz.losses import perceptual
from thz.losses.perceptual import (
    VGG16_FILE,
    PerceptualLoss,
    build_perceptual_loss,
    find_vgg16_weights,
    load_lpips,
)

COMPARED = ("features.0.weight", "features.0.bias", "features.14.weight", "features.28.weight", "features.28.bias")


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory) -> Path:
    """A TORCH_HOME holding a randomly initialised torchvision VGG16 checkpoint (written once: ~550 MB)."""
    home = tmp_path_factory.mktemp("torch_home")
    target = home / "hub" / "checkpoints" / VGG16_FILE
    target.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), target)
    return home


@pytest.fixture(scope="module")
def saved(fake_home) -> dict[str, torch.Tensor]:
    state = torch.load(fake_home / "hub" / "checkpoints" / VGG16_FILE, map_location="cpu", weights_only=True)
    return {key: state[key] for key in COMPARED}


@pytest.fixture(scope="module")
def loss(fake_home) -> PerceptualLoss:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(fake_home))
        built = build_perceptual_loss(warn=pytest.fail)
    assert built is not None
    return built


def _backbone(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """LPIPS backbone tensors under their torchvision names (`slice<k>.<i>.w` -> `features.<i>.w`)."""
    return {"features." + name.split(".", 1)[1]: t for name, t in module.net.state_dict().items()}


def _assert_loaded(module: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    backbone = _backbone(module)
    assert len(backbone) == 26  # 13 convs, weight + bias
    for key, tensor in saved.items():
        assert torch.equal(backbone[key], tensor), key


def test_torch_home_weights_load_exactly(fake_home, saved, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(fake_home))
    assert find_vgg16_weights() == fake_home / "hub" / "checkpoints" / VGG16_FILE
    module, reason = load_lpips()
    assert reason == ""
    _assert_loaded(module, saved)
    assert not module.training


def test_explicit_path_loads_and_missing_path_raises(fake_home, saved, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached: only the explicit path can supply weights
    module, reason = load_lpips(str(fake_home / "hub" / "checkpoints" / VGG16_FILE))
    assert reason == ""
    _assert_loaded(module, saved)
    missing = tmp_path / "nowhere" / VGG16_FILE
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_lpips(str(missing))


def test_incomplete_weights_file_is_an_error(tmp_path):
    partial = tmp_path / "partial.pth"
    state = torchvision.models.vgg16(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in state.items() if not k.startswith("28.")}, partial)
    with pytest.raises(ValueError, match="partial.pth"):
        load_lpips(str(partial))


def test_without_weights_the_term_is_off_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(perceptual, "_warned", False)
    module, reason = load_lpips()
    assert module is None
    assert VGG16_FILE in reason and "loss.lpips_weights" in reason and "TORCH_HOME" in reason
    warnings: list[str] = []
    assert build_perceptual_loss(warn=warnings.append) is None
    assert build_perceptual_loss(warn=warnings.append) is None
    assert warnings == [reason]


def test_perceptual_loss_values_and_gradient(loss):
    torch.manual_seed(1)
    target = torch.rand(3, 1, 32, 32)
    same = loss(target.clone(), target)
    assert same.shape == (3,)
    assert (same.abs() < 1e-6).all()

    pred = torch.rand(3, 1, 32, 32, requires_grad=True)
    distance = loss(pred, target)
    assert distance.shape == (3,)
    assert (distance > 0).all()
    distance.sum().backward()
    assert pred.grad is not None
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())


def test_training_mode_keeps_lpips_in_eval(loss):
    loss.train()
    assert not loss.lpips.training
    loss.eval()


def test_rejects_non_gray_input(loss):
    with pytest.raises(ValueError, match="B, 1, H, W"):
        loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))


def test_no_network_access(fake_home, saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    # torchvision binds its own name for the downloader; patch that too so a download cannot slip past.
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    test_torch_home_weights_load_exactly(fake_home, saved, monkeypatch)
