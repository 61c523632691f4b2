"""LPIPS-VGG loss built offline from the project's VGG16 file (data/weights); fabricated weights stand in for
ImageNet ones."""

from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from thz.losses import perceptual
from thz.losses.perceptual import (
    VGG16_FILE,
    WEIGHTS_DIR,
    PerceptualLoss,
    build_perceptual_loss,
    fetch_vgg16_weights,
    find_vgg16_weights,
    load_lpips,
)

COMPARED = ("features.0.weight", "features.0.bias", "features.14.weight", "features.28.weight", "features.28.bias")


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory) -> Path:
    """A randomly initialised VGG16 checkpoint under the weights file's name, written once."""
    target = tmp_path_factory.mktemp("weights") / VGG16_FILE
    torch.manual_seed(0)
    torch.save(_vgg16_backbone(), target)
    return target


def _vgg16_backbone() -> dict[str, torch.Tensor]:
    """torchvision's VGG16 `features.*` tensors, randomly initialised: all LPIPS reads of the file
    (the real one also holds the classifier, whose 120 M parameters would only cost the tests time)."""
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    return {f"features.{key}": tensor for key, tensor in features.state_dict().items()}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder as the working directory (stages run at the project root), with an empty
    torch hub cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


def _install(weights: Path, project: Path) -> Path:
    """The weights file in the project's data/weights (a link: the file is large)."""
    target = project / WEIGHTS_DIR / VGG16_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(weights)
    return target


@pytest.fixture(scope="module")
def saved(fake_weights) -> dict[str, torch.Tensor]:
    state = torch.load(fake_weights, map_location="cpu", weights_only=True)
    return {key: state[key] for key in COMPARED}


@pytest.fixture(scope="module")
def loss(fake_weights, tmp_path_factory) -> PerceptualLoss:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("project"))
        _install(fake_weights, Path.cwd())
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


def test_the_project_weights_load_exactly(fake_weights, saved, project):
    target = _install(fake_weights, project)
    assert find_vgg16_weights() == WEIGHTS_DIR / VGG16_FILE and target.is_file()
    module, reason = load_lpips()
    assert reason == ""
    _assert_loaded(module, saved)
    assert not module.training


def test_weights_in_torch_s_cache_alone_leave_the_term_off(fake_weights, project):
    """A file DVC does not track must not change the loss: only data/weights counts."""
    cached = project / "torch_home" / "hub" / "checkpoints" / VGG16_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(fake_weights)
    module, reason = load_lpips()
    assert module is None and "data/weights/vgg16-397923af.pth" in reason


def test_fetch_copies_torch_s_cache_or_downloads_through_torchvision(fake_weights, project, monkeypatch):
    cached = project / "torch_home" / "hub" / "checkpoints" / VGG16_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached weights")
    assert fetch_vgg16_weights().read_bytes() == b"cached weights"  # no network needed
    cached.unlink()
    (project / WEIGHTS_DIR / VGG16_FILE).unlink()
    calls = []

    def download(url, model_dir, file_name, check_hash):
        calls.append((url, model_dir, file_name, check_hash))
        Path(model_dir, file_name).write_bytes(b"downloaded")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    assert fetch_vgg16_weights().read_bytes() == b"downloaded"
    assert calls == [(torchvision.models.VGG16_Weights.IMAGENET1K_V1.url, str(WEIGHTS_DIR), VGG16_FILE, True)]


def test_fetch_without_a_network_says_what_to_copy_where(project, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(SystemExit) as exit_:
        perceptual.main(["--fetch"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "could not download" in err and f"copy {VGG16_FILE}" in err and "into data/weights/" in err


def test_incomplete_weights_file_is_an_error(project):
    partial = project / WEIGHTS_DIR / VGG16_FILE
    partial.parent.mkdir(parents=True)
    torch.save({k: v for k, v in _vgg16_backbone().items() if not k.startswith("features.28.")}, partial)
    with pytest.raises(ValueError, match="vgg16-397923af.pth lack 2 backbone tensors"):
        load_lpips()


def test_without_weights_the_term_is_off_with_one_warning(project, monkeypatch):
    monkeypatch.setattr(perceptual, "_warned", False)
    module, reason = load_lpips()
    assert module is None
    assert (
        "not found at data/weights/vgg16-397923af.pth" in reason and "python -m thz.losses.perceptual --fetch" in reason
    )
    warnings: list[str] = []
    assert build_perceptual_loss(warn=warnings.append) is None
    assert build_perceptual_loss(warn=warnings.append) is None
    assert warnings == [reason]


def test_with_the_weights_the_lpips_term_enters_the_training_loss(fake_weights, project):
    """What a user who adds the file gets: the objective weighs an LPIPS part into the loss."""
    from tests.pairsets import TINY_MODEL
    from thz.config import LossConfig
    from thz.losses.objective import MultiTaskObjective
    from thz.models import build_model

    _install(fake_weights, project)
    cfg = LossConfig(lpips=0.5)
    objective = MultiTaskObjective(build_model(TINY_MODEL), cfg, build_perceptual_loss(warn=pytest.fail))
    torch.manual_seed(2)
    parts = objective.recon_parts(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
    assert parts["lpips"] > 0
    weighted = sum(getattr(cfg, name) * parts[name] for name in ("charbonnier", "ssim", "gradient", "lpips"))
    assert parts["recon"] == pytest.approx(float(weighted))


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


def test_no_network_access(fake_weights, saved, project, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    # torchvision binds its own name for the downloader; patch that too so a download cannot slip past.
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    test_the_project_weights_load_exactly(fake_weights, saved, project)
