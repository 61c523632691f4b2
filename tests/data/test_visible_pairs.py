"""Visible companions for the teacher: loaded only when asked, grayscale at the THz size, missing
ones named (strict) or left out (lenient); augmentation keeps them aligned with their THz capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from tests.conftest import data_config, write_dataset, write_png
from thz.data.augment import PROFILES, AugmentProfile, augment_pair_batch
from thz.data.dataset import VisibleFormat, load_pairs
from thz.data.naming import format_name
from thz.data.problems import DataError
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts

SPLIT = IdentitySplit(train=("a", "b"), val=("c",), test=("d",))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    thz, visible = tmp_path / "thz", tmp_path / "visible"
    write_dataset(thz, identities=("a", "b", "c", "d"), size=32, visible_root=visible)
    return thz, visible


def _images(thz: Path, visible: Path):
    return assign_parts(scan(data_config(thz, visible, image_size=32)).manifest, SPLIT)


def test_visible_images_are_loaded_as_grayscale_at_the_thz_size(folders):
    thz, visible = folders
    pairs = load_pairs(_images(thz, visible), "train", 32, visible=VisibleFormat())
    assert pairs.visible_inputs.shape == pairs.inputs.shape == (2 * 5 * 2, 1, 32, 32)
    assert pairs.visible_inputs.dtype == torch.uint8
    first = Path(pairs.paths[0]).name  # a concealed file; its visible twin is 64 px RGB on disk
    with PIL.Image.open(visible / first) as img:
        assert img.mode == "RGB" and img.size == (64, 64)
        expected = np.asarray(img.convert("L").resize((32, 32), PIL.Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(pairs.visible_inputs[0, 0].numpy(), expected)
    target_name = format_name("a", 0, False, 1)
    with PIL.Image.open(visible / target_name) as img:
        expected = np.asarray(img.convert("L").resize((32, 32), PIL.Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(pairs.visible_targets[0, 0].numpy(), expected)
    batch = pairs.batch(torch.tensor([0, 3]))
    assert batch["visible_input"].shape == (2, 1, 32, 32) and batch["visible_target"].max() <= 1.0


def test_without_visible_no_visible_file_is_opened(folders, monkeypatch):
    thz, visible = folders
    images = _images(thz, visible)
    opened = []
    real_open = PIL.Image.open
    monkeypatch.setattr(PIL.Image, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    pairs = load_pairs(images, "train", 32)
    assert pairs.visible_inputs is None and "visible_input" not in pairs.batch(torch.tensor([0]))
    assert opened and not [p for p in opened if str(visible) in p]


def test_missing_visible_images_are_named_and_stop_a_strict_load(folders):
    thz, visible = folders
    (visible / format_name("a", 2, True, 1)).unlink()  # a concealed input's companion
    (visible / format_name("b", 4, False, 2)).unlink()  # an unconcealed target's companion
    images = _images(thz, visible)
    with pytest.raises(DataError) as caught:
        load_pairs(images, "train", 32, visible=VisibleFormat(), strict=True)
    message = str(caught.value)
    assert "2 of 20 'train' samples" in message
    assert format_name("a", 2, True, 1) in message and format_name("b", 4, False, 2) in message
    assert "data.strict" in message
    load_pairs(images, "val", 32, visible=VisibleFormat(), strict=True)  # other parts are complete


def test_lenient_load_trains_on_the_samples_that_have_both(folders, capsys):
    thz, visible = folders
    (visible / format_name("a", 2, True, 1)).unlink()
    images = _images(thz, visible)
    pairs = load_pairs(images, "train", 32, visible=VisibleFormat(), strict=False)
    assert len(pairs) == 19 and not any(p.endswith(format_name("a", 2, True, 1)) for p in pairs.paths)
    assert len(pairs.visible_inputs) == len(pairs.inputs) == 19
    out = capsys.readouterr().out
    assert "left out" in out and format_name("a", 2, True, 1) in out


def test_no_visible_images_at_all_points_to_the_thz_only_part(folders):
    thz, _ = folders
    images = assign_parts(scan(data_config(thz, None, image_size=32)).manifest, SPLIT)
    for strict in (True, False):
        with pytest.raises(DataError, match="dvc repro train_baseline"):
            load_pairs(images, "train", 32, visible=VisibleFormat(), strict=strict)


@pytest.mark.parametrize("how", ["deleted", "changed"])
def test_a_visible_image_deleted_or_changed_after_the_scan_is_named(folders, how):
    """Once a FileNotFoundError traceback at teacher training (deleted), or silently read (changed)."""
    thz, visible = folders
    images = _images(thz, visible)
    victim = visible / format_name("b", 3, False, 2)  # an unconcealed target's companion
    if how == "deleted":
        victim.unlink()
        expected = "file not found since the scan"
    else:
        write_png(victim, 64, mode="RGB", seed=99)  # same size and mode, other pixels
        expected = r"changed since the scan \(its bytes differ from the manifest's md5\)"
    for colour in (False, True):
        with pytest.raises(DataError, match=rf"{victim.name}: {expected}; re-run the scan: dvc repro -f scan"):
            load_pairs(images, "train", 32, visible=VisibleFormat(colour=colour), strict=True)
    load_pairs(images, "val", 32, visible=VisibleFormat(), strict=True)  # other parts are untouched


def test_visible_images_follow_the_thz_geometry_but_get_no_thz_noise():
    g = torch.Generator().manual_seed(0)
    thz = torch.rand(4, 1, 32, 32, generator=g)
    batch = {"input": thz, "target": thz.clone(), "visible_input": thz.clone(), "visible_target": thz.clone()}
    geometry_only = AugmentProfile(rotation=(-20.0, 20.0), scale=(0.9, 1.1))
    out = augment_pair_batch(batch, geometry_only, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out["visible_input"], out["input"])  # same warp as the THz input
    torch.testing.assert_close(out["visible_target"], out["target"])
    assert not torch.allclose(out["input"], thz)
    noisy = augment_pair_batch(batch, PROFILES["strong"], torch.Generator().manual_seed(1))
    torch.testing.assert_close(noisy["visible_input"], noisy["target"])  # geometry only, like the target
    assert not torch.allclose(noisy["input"], noisy["target"])


def test_visible_companions_do_not_change_the_thz_augmentation():
    g = torch.Generator().manual_seed(0)
    x, y, v = (torch.rand(3, 1, 32, 32, generator=g) for _ in range(3))
    thz_only = augment_pair_batch({"input": x, "target": y}, PROFILES["medium"], torch.Generator().manual_seed(5))
    plain = (thz_only["input"], thz_only["target"])
    assert not torch.equal(plain[0], x)  # the profile did act
    paired = augment_pair_batch(
        {"input": x, "target": y, "visible_input": v, "visible_target": v},
        PROFILES["medium"],
        torch.Generator().manual_seed(5),
    )
    torch.testing.assert_close(paired["input"], plain[0])
    torch.testing.assert_close(paired["target"], plain[1])


def test_visible_images_in_colour_at_twice_the_thz_size(folders):
    thz, visible = folders
    pairs = load_pairs(_images(thz, visible), "train", 32, visible=VisibleFormat(colour=True, scale=2))
    assert pairs.visible_inputs.shape == (2 * 5 * 2, 3, 64, 64) and pairs.inputs.shape[-1] == 32
    first = Path(pairs.paths[0]).name  # 64 px RGB on disk: read as it is
    with PIL.Image.open(visible / first) as img:
        expected = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(pairs.visible_inputs[0].permute(1, 2, 0).numpy(), expected)
    batch = pairs.batch(torch.tensor([0, 3]))
    assert batch["visible_input"].shape == (2, 3, 64, 64)


def test_larger_colour_companions_follow_the_thz_geometry():
    """The warp is in normalised coordinates: a 2x, 3-channel companion gets the same geometry."""
    g = torch.Generator().manual_seed(0)
    thz = torch.rand(4, 1, 32, 32, generator=g)
    big = torch.nn.functional.interpolate(thz, scale_factor=2, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    batch = {"input": thz, "target": thz.clone(), "visible_input": big, "visible_target": big.clone()}
    out = augment_pair_batch(batch, AugmentProfile(rotation=(-20.0, 20.0)), torch.Generator().manual_seed(1))
    assert out["visible_input"].shape == (4, 3, 64, 64)
    shrunk = torch.nn.functional.avg_pool2d(out["visible_input"][:, :1], 2)
    assert (shrunk - out["target"]).abs().mean() < 0.05  # the same rotation, up to resampling
    assert (shrunk - thz).abs().mean() > 0.1  # and the rotation did happen
    with pytest.raises(ValueError, match="do not match the inputs"):
        augment_pair_batch({**batch, "visible_input": big[:3]}, PROFILES["gentle"], torch.Generator())
