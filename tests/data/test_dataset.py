"""load_pairs on a real per-image table (scanned PNGs with a split column) and PairSet.batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import data_config, write_dataset, write_png
from thz.data.dataset import PairSet, load_pairs
from thz.data.naming import POSTURES, format_name, parse_name
from thz.data.problems import DataError
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts

IDENTITIES = ("a", "b", "c", "d", "e", "f_1")  # an underscore in an identity name too
SPLIT = IdentitySplit(train=("a", "c", "f_1"), val=("b", "d"), test=("e",))
SAMPLES = (1, 2)


def _pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> pd.DataFrame:
    """The per-image table of 6 identities x 5 postures x 2 samples, 64 px. write_dataset gives a
    concealed image and its partner the same pixels, so the unconcealed files are rewritten with
    other pixels: a target read from the wrong file would then be noticed."""
    root = tmp_path / "thz"
    write_dataset(root, identities=IDENTITIES, samples=SAMPLES, size=64)
    for i, ident in enumerate(IDENTITIES):
        for p in range(len(POSTURES)):
            for s in SAMPLES:
                write_png(root / format_name(ident, p, False, s), 64, seed=50_000 + i * 100 + p * 10 + s)
    manifest = scan(data_config(root, image_size=64)).manifest
    return assign_parts(manifest, SPLIT)


def test_shapes_and_dtypes(images):
    train = load_pairs(images, "train", 64)
    n = len(SPLIT.train) * len(POSTURES) * len(SAMPLES)
    assert len(train) == n and len(train.paths) == n
    assert train.inputs.shape == train.targets.shape == (n, 1, 64, 64)
    assert train.inputs.dtype == train.targets.dtype == torch.uint8
    assert train.identity.shape == train.posture.shape == (n,)
    assert train.identity.dtype == train.posture.dtype == torch.int64


def test_only_concealed_images_of_the_part_are_inputs(images):
    for part in ("train", "val", "test"):
        pairs = load_pairs(images, part, 64)
        names = [parse_name(p) for p in pairs.paths]
        assert all(name.concealed for name in names)
        assert {name.identity for name in names} == set(getattr(SPLIT, part))
        assert list(pairs.paths) == sorted(pairs.paths)


def test_inputs_are_the_files_and_targets_their_unconcealed_partners(images):
    train = load_pairs(images, "train", 64)
    for i, path in enumerate(train.paths):
        name = parse_name(path)
        partner = Path(path).with_name(format_name(name.identity, name.posture, False, name.sample))
        np.testing.assert_array_equal(train.inputs[i, 0].numpy(), _pixels(path))
        np.testing.assert_array_equal(train.targets[i, 0].numpy(), _pixels(partner))
        assert not np.array_equal(train.inputs[i, 0].numpy(), train.targets[i, 0].numpy())


def test_identity_indices_and_posture_labels_match_the_names(images):
    train = load_pairs(images, "train", 64)
    assert train.identities == tuple(sorted(SPLIT.train))
    for i, path in enumerate(train.paths):
        name = parse_name(path)
        assert train.identities[int(train.identity[i])] == name.identity
        assert int(train.posture[i]) == name.posture
    assert set(train.posture.tolist()) == set(range(len(POSTURES)))
    assert set(train.identity.tolist()) == set(range(len(SPLIT.train)))


def test_parts_have_their_own_identity_index(images):
    val = load_pairs(images, "val", 64)
    assert val.identities == ("b", "d")
    assert val.identity.tolist() == [0] * 10 + [1] * 10


def test_thz_images_are_read_as_the_scan_checked_them_never_resized(images):
    val = load_pairs(images, "val", 64)
    np.testing.assert_array_equal(val.inputs[0, 0].numpy(), np.asarray(Image.open(val.paths[0])))
    with pytest.raises(DataError, match=r"b_b1b_1.png: expected an 8-bit grayscale \(mode L\) 32x32 image, got"):
        load_pairs(images, "val", 32)


def test_an_image_changed_after_the_scan_is_refused_naming_it(images):
    """Triplet CSVs may name images DVC does not track: the scan's md5 is what training trusts."""
    victim = Path(images[images.split == "val"].path.iloc[3])
    write_png(victim, 64, seed=999)  # same size and mode, other pixels
    with pytest.raises(DataError, match=rf"{victim.name}: changed since the scan .* dvc repro -f scan"):
        load_pairs(images, "val", 64)
    load_pairs(images, "train", 64)  # the other parts are untouched
    Image.open(victim).convert("RGB").save(victim)
    fresh = scan(data_config(victim.parent, image_size=64, strict=False))
    assert [(Path(p.path).name, p.kind) for p in fresh.problems] == [(victim.name, "bad_mode")]


def test_batch_gives_floats_in_unit_range(images):
    train = load_pairs(images, "train", 64)
    index = torch.tensor([3, 0, 7])
    batch = train.batch(index)
    assert set(batch) == {"input", "target", "identity", "posture", "capture"}
    for key in ("input", "target"):
        assert batch[key].dtype == torch.float32 and batch[key].shape == (3, 1, 64, 64)
        assert batch[key].min() >= 0.0 and batch[key].max() <= 1.0
    torch.testing.assert_close(batch["input"] * 255, train.inputs[index].float())
    torch.testing.assert_close(batch["target"] * 255, train.targets[index].float())
    assert torch.equal(batch["identity"], train.identity[index])
    assert torch.equal(batch["posture"], train.posture[index])
    assert batch["capture"].tolist() == [3, 0, 7]  # the instance-level loss's labels: the pairs themselves


def test_batch_does_not_modify_the_stored_images(images):
    train = load_pairs(images, "train", 64)
    before = train.inputs.clone()
    batch = train.batch(torch.arange(4))
    batch["input"].mul_(0)
    assert torch.equal(train.inputs, before)


def test_batch_of_a_hand_made_pairset():
    inputs = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 1, 4, 4).clone()
    pairs = PairSet(inputs, 255 - inputs, torch.tensor([0, 1]), torch.tensor([2, 4]), ("x", "y"), ("p0", "p1"))
    batch = pairs.batch(torch.tensor([1, 0]))
    assert batch["input"][:, 0, 0, 0].tolist() == [1.0, 0.0]
    assert batch["target"][:, 0, 0, 0].tolist() == [0.0, 1.0]
    assert len(pairs) == 2


@pytest.mark.parametrize("part", ["test", "holdout"])
def test_empty_part_raises_data_error_naming_it(images, part):
    table = assign_parts(images.drop(columns="split"), IdentitySplit(train=SPLIT.train, val=SPLIT.val, test=()))
    with pytest.raises(DataError, match=f"'{part}'"):
        load_pairs(table, part, 64)


def test_part_with_only_unconcealed_images_is_empty(images):
    table = images[~images.concealed.astype(bool) | (images.split != "val")]
    with pytest.raises(DataError, match="'val'"):
        load_pairs(table, "val", 64)
