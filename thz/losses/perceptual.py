"""LPIPS-VGG perceptual loss for 1-channel THz images, built without any network access.

The `lpips` package ships its small linear-layer weights, but its VGG16 backbone normally comes
from torchvision's ImageNet checkpoint, which torchvision downloads on first use. The pipeline runs
offline, so we build LPIPS with a random backbone (no download) and copy the VGG16 `features.*`
tensors in from one file of the project, data/weights/vgg16-397923af.pth: the folder is a declared
input of the training and evaluate stages, so adding the file re-runs what it changes. When the
file is absent the term is switched off with one warning. `python -m thz.losses.perceptual
--fetch` puts the file there through torchvision's own downloader, where a network is available.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch

VGG16_FILE = "vgg16-397923af.pth"

_warned = False


WEIGHTS_DIR = Path("data/weights")  # relative to the project root, where every stage runs
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1
FETCH = "python -m thz.losses.perceptual --fetch"


def vgg16_path() -> Path:
    return WEIGHTS_DIR / VGG16_FILE


def find_vgg16_weights() -> Path | None:
    """The VGG16 ImageNet checkpoint in the project's weights folder, or None. Only there: a file
    found elsewhere (torch's hub cache) would change the loss without DVC seeing any input change."""
    path = vgg16_path()
    return path if path.is_file() else None


def fetch_vgg16_weights() -> Path:
    """Put torchvision's VGG16 ImageNet checkpoint into the weights folder: copied from torch's hub
    cache when torchvision downloaded it before, else downloaded with torchvision's own downloader
    (hash-checked). Without a network it fails naming the file to copy by hand."""
    import shutil

    target = vgg16_path()
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if cached.is_file():
        shutil.copyfile(cached, target)
        return target
    try:
        torch.hub.load_state_dict_from_url(
            VGG16_URL, model_dir=str(target.parent), file_name=VGG16_FILE, check_hash=True
        )
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
        raise RuntimeError(
            f"could not download {VGG16_URL} ({err}); on a machine without a network, copy {VGG16_FILE} "
            f"(torchvision's VGG16 ImageNet weights) into {target.parent}/"
        ) from None
    return target


def _copy_backbone(module: torch.nn.Module, weights: Path) -> None:
    """Load `features.<i>.*` from the torchvision checkpoint into LPIPS's slices, all or nothing.

    lpips.pretrained_networks.vgg16 re-parents `features[i]` as `slice<k>.<i>`, so the child index
    is the original `features` index.
    """
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:
        raise RuntimeError(f"could not read VGG16 weights {weights}: {err}") from err
    wanted = {name: "features." + name.split(".", 1)[1] for name in module.net.state_dict()}
    missing = sorted(key for key in wanted.values() if key not in state)
    if missing:
        raise ValueError(f"VGG16 weights {weights} lack {len(missing)} backbone tensors, e.g. {missing[:3]}")
    try:
        module.net.load_state_dict({name: state[key] for name, key in wanted.items()}, strict=True)
    except RuntimeError as err:
        raise ValueError(f"VGG16 weights {weights} do not fit the LPIPS backbone: {err}") from err


def load_lpips() -> tuple[torch.nn.Module | None, str]:
    """A frozen, eval-mode LPIPS-VGG module, or (None, reason) when the VGG16 weights are not on disk.

    Never downloads: `pnet_rand=True` makes lpips call `torchvision.models.vgg16(pretrained=False)`,
    i.e. a randomly initialised backbone, which we then overwrite from the local file.
    """
    weights = find_vgg16_weights()
    if weights is None:
        return None, (
            f"LPIPS term off: VGG16 ImageNet weights not found at {vgg16_path()}; fetch them with `{FETCH}` "
            f"where a network is available, or copy torchvision's {VGG16_FILE} there"
        )
    import lpips  # here, not at the top: only a machine with the weights pays for the import

    with warnings.catch_warnings():
        # torchvision deprecates the `pretrained=` keyword lpips still uses; it maps to weights=None.
        warnings.filterwarnings("ignore", message=r".*(pretrained|weight enum).*", category=UserWarning)
        module = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    _copy_backbone(module, weights)
    module.eval()
    module.requires_grad_(False)
    return module, ""


class PerceptualLoss(torch.nn.Module):
    """Per-sample LPIPS-VGG distance between gray images in [0, 1], differentiable w.r.t. `pred`.

    Gray is repeated to 3 channels and mapped to [-1, 1], the range LPIPS is calibrated for (the
    published code fed [0, 1] images and used it only as a metric, without gradient).
    """

    def __init__(self, lpips_module: torch.nn.Module):
        super().__init__()
        self.lpips = lpips_module.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Keep LPIPS in eval mode (its linear layers have dropout) even inside a model in training."""
        super().train(mode)
        self.lpips.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) pair in [0, 1] -> (B,) distances."""
        if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 1:
            raise ValueError(f"expected two (B, 1, H, W) tensors, got {tuple(pred.shape)} and {tuple(target.shape)}")
        as_rgb = [x.expand(-1, 3, -1, -1) * 2 - 1 for x in (pred, target)]
        return self.lpips(*as_rgb).reshape(pred.shape[0])


def build_perceptual_loss(warn: Callable[[str], object] = print) -> PerceptualLoss | None:
    """The loss, or None (caller drops the term) with `warn(reason)` only the first time in a process."""
    global _warned
    module, reason = load_lpips()
    if module is None:
        if not _warned:
            _warned = True
            warn(reason)
        return None
    return PerceptualLoss(module)


def main(argv=None) -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Put the VGG16 weights LPIPS needs into " + str(WEIGHTS_DIR))
    parser.add_argument("--fetch", action="store_true", required=True, help=f"copy or download {VGG16_FILE}")
    parser.parse_args(argv)
    try:
        print(f"VGG16 weights for LPIPS: {fetch_vgg16_weights()}")
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
