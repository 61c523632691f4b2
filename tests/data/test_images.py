"""The image readers on real files: every failure a DataError naming the file, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import write_bomb_png, write_png
from thz.data.images import file_md5, read_gray_uint8, read_rgb_uint8, read_thz_uint8
from thz.data.problems import DataError

READERS = {
    "thz": lambda path, md5=None: read_thz_uint8(path, 16, md5),
    "gray": lambda path, md5=None: read_gray_uint8(path, 16, md5),
    "rgb": lambda path, md5=None: read_rgb_uint8(path, 16, md5),
}


@pytest.mark.parametrize("size", [100_000, 10_000], ids=["bomb_error", "bomb_warning"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_decompression_bomb_is_a_data_error_naming_the_file(tmp_path, reader, size):
    """PIL's DecompressionBombError is no OSError (and above MAX_IMAGE_PIXELS only a warning)."""
    path = write_bomb_png(tmp_path / "a_b1b_1.png", size, size)
    with pytest.raises(DataError, match=rf"a_b1b_1.png: not a readable image \(declares {size} x {size} pixels"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", list(READERS))
def test_a_file_gone_or_changed_since_the_scan_is_named(tmp_path, reader):
    path = write_png(tmp_path / "a_b1b_1.png")
    md5 = file_md5(path)
    assert READERS[reader](path, md5).shape[:2] == (16, 16)
    write_png(path, seed=7)
    with pytest.raises(DataError, match=r"a_b1b_1.png: changed since the scan .*dvc repro -f scan"):
        READERS[reader](path, md5)
    path.unlink()
    with pytest.raises(DataError, match=r"a_b1b_1.png: file not found since the scan; re-run the scan"):
        READERS[reader](path, md5)
