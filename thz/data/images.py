"""Reading images into arrays the way every stage expects them: 8-bit grayscale scaled to [0, 1].

No mean/std normalisation (as in the published code). Visible photographs are converted to
grayscale and resized to the THz size so both modalities share one tensor layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def read_gray_uint8(path: str | Path, size: int | None = None) -> np.ndarray:
    """(H, W) uint8; converted to grayscale, and resized to size x size when given."""
    with Image.open(path) as img:
        img = img.convert("L")
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def read_gray(path: str | Path, size: int | None = None) -> np.ndarray:
    """(H, W) float32 in [0, 1]; converted to grayscale, and resized to size x size when given."""
    return read_gray_uint8(path, size).astype(np.float32) / 255.0


def read_stack(paths, size: int | None = None) -> np.ndarray:
    """(N, H, W) float32 stack of read_gray images."""
    return np.stack([read_gray(p, size) for p in paths])
