"""Reading images into arrays the way every stage expects them: 8-bit grayscale scaled to [0, 1].

No mean/std normalisation (as in the published code). Visible photographs are converted to
grayscale and resized to the THz size so both modalities share one tensor layout. THz images are
never converted: training reads them as the scan checked them (8-bit grayscale, image_size
square, the same bytes), so an image changed after the scan, which DVC may not see (triplet CSVs
can name files anywhere), is refused instead of trained on.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thz.data.problems import DataError

RESCAN = "re-run the scan: dvc repro -f scan"


def file_md5(path: str | Path) -> str:
    """The MD5 of the file's bytes (what the scan records and training checks)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def read_thz_uint8(path: str | Path, size: int, md5: str | None = None) -> np.ndarray:
    """(size, size) uint8 of an 8-bit grayscale THz image, exactly as the scan accepted it: a file
    whose bytes differ from the scan's `md5`, or that is not mode L of size x size, is a DataError
    naming it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found since the scan; {RESCAN}") from None
    if md5 is not None and hashlib.md5(data).hexdigest() != md5:
        raise DataError(f"{path}: changed since the scan (its bytes differ from the manifest's md5); {RESCAN}")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode != "L" or img.size != (size, size):
                raise DataError(
                    f"{path}: expected an 8-bit grayscale (mode L) {size}x{size} image, got mode {img.mode} "
                    f"{img.size[0]}x{img.size[1]}; {RESCAN}"
                )
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: not a readable image ({err}); {RESCAN}") from None


def read_gray_uint8(path: str | Path, size: int | None = None) -> np.ndarray:
    """(H, W) uint8; converted to grayscale, and resized to size x size when given."""
    with Image.open(path) as img:
        img = img.convert("L")
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def read_rgb_uint8(path: str | Path, size: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8; converted to RGB (a grayscale file gives three equal channels), and
    resized to size x size when given."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def read_gray(path: str | Path, size: int | None = None) -> np.ndarray:
    """(H, W) float32 in [0, 1]; converted to grayscale, and resized to size x size when given."""
    return read_gray_uint8(path, size).astype(np.float32) / 255.0


def read_stack(paths, size: int | None = None) -> np.ndarray:
    """(N, H, W) float32 stack of read_gray images."""
    return np.stack([read_gray(p, size) for p in paths])
