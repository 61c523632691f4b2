"""The pixel baseline reads THz images as training does: checked against the scan's md5."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import data_config, write_dataset, write_png
from thz.data.problems import DataError
from thz.data.scan import scan
from thz.data.splits import IdentitySplit, assign_parts
from thz.eval.pixel_baseline import pixel_baseline

SPLIT = IdentitySplit(train=("a", "b", "c"), val=("d",), test=("e", "f"))


@pytest.fixture
def images(tmp_path: Path):
    write_dataset(tmp_path / "thz", identities=("a", "b", "c", "d", "e", "f"))
    return assign_parts(scan(data_config(tmp_path / "thz")).manifest, SPLIT)


def test_pixel_baseline_scores_the_test_identities(images):
    result = pixel_baseline(images, seed=0, image_size=16)
    assert result["test_identities"] == 2 and result["test_images"] == 40
    assert 0.0 <= result["verification"]["auc"] <= 1.0


@pytest.mark.parametrize("part", ["train", "test"])
def test_an_image_changed_after_the_scan_is_refused_naming_it(images, part):
    """Once read as it was on disk (no md5 check), unlike training."""
    victim = Path(images[(images.split == part) & ~images.concealed].path.iloc[2])
    write_png(victim, 16, seed=999)  # same size and mode, other pixels
    with pytest.raises(DataError, match=rf"{victim.name}: changed since the scan .* dvc repro -f scan"):
        pixel_baseline(images, seed=0, image_size=16)
