"""Reading images into arrays the way every stage expects them: 8-bit grayscale scaled to [0, 1].

No mean/std normalisation (as in the published code). Visible photographs are converted to
grayscale and resized to the THz size so both modalities share one tensor layout. THz images are
never converted: training reads them as the scan checked them (8-bit grayscale, image_size
square, the same bytes), so an image changed after the scan, which DVC may not see (triplet CSVs
can name files anywhere), is refused instead of trained on. Visible images are checked against
the scan's MD5 the same way. Every failure is a DataError naming the file, never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thz.data.problems import DataError

RESCAN = "re-run the scan: dvc repro -f scan"


class ImageTooLarge(ValueError):
    """A header declaring more pixels than PIL's bomb guard (Image.MAX_IMAGE_PIXELS) allows: a
    corrupt file or a decompression bomb, refused before a pixel is decoded."""


def file_md5(path: str | Path) -> str:
    """The MD5 of the file's bytes (what the scan records and every reader checks)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def open_image(source) -> Image.Image:
    """Image.open with PIL's decompression-bomb warning and error both raised as ImageTooLarge,
    which names the declared size (PIL's own error is no OSError, so it escaped the checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            width, height = _declared_size(source)
    raise ImageTooLarge(
        f"declares {width} x {height} pixels, more than PIL's limit of {Image.MAX_IMAGE_PIXELS} "
        "(Image.MAX_IMAGE_PIXELS): a corrupt header or a decompression bomb"
    )


def _declared_size(source) -> tuple[int, int]:
    """Width and height as the header says, read past PIL's bomb guard (no pixel is decoded)."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        if hasattr(source, "seek"):
            source.seek(0)
        with Image.open(source) as img:
            return img.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def scanned_bytes(path: str | Path, md5: str | None = None) -> bytes:
    """The file's bytes as the scan saw them: a file gone, unreadable or (with `md5`) changed
    since the scan is a DataError naming it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found since the scan; {RESCAN}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror}); {RESCAN}") from None
    if md5 is not None and hashlib.md5(data).hexdigest() != md5:
        raise DataError(f"{path}: changed since the scan (its bytes differ from the manifest's md5); {RESCAN}")
    return data


def _decoded(path: str | Path, data: bytes) -> Image.Image:
    """The image in `data`, fully decoded here, so any failure is a DataError naming `path`."""
    try:
        img = open_image(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err}); {RESCAN}") from None
    return img


def read_thz_uint8(path: str | Path, size: int, md5: str | None = None) -> np.ndarray:
    """(size, size) uint8 of an 8-bit grayscale THz image, exactly as the scan accepted it: a file
    whose bytes differ from the scan's `md5`, or that is not mode L of size x size, is a DataError
    naming it."""
    img = _decoded(path, scanned_bytes(path, md5))
    if img.mode != "L" or img.size != (size, size):
        raise DataError(
            f"{path}: expected an 8-bit grayscale (mode L) {size}x{size} image, got mode {img.mode} "
            f"{img.size[0]}x{img.size[1]}; {RESCAN}"
        )
    return np.asarray(img, dtype=np.uint8)


def read_thz_stack(paths, size: int, md5: dict[str, str]) -> np.ndarray:
    """(N, size, size) float32 in [0, 1] of read_thz_uint8 images, each checked against `md5`."""
    return np.stack([read_thz_uint8(p, size, md5.get(p)) for p in paths]).astype(np.float32) / 255.0


def read_gray_uint8(path: str | Path, size: int | None = None, md5: str | None = None) -> np.ndarray:
    """(H, W) uint8; converted to grayscale, and resized to size x size when given. With `md5`
    (the manifest's visible_md5), a file changed since the scan is refused."""
    return _converted(path, "L", size, md5)


def read_rgb_uint8(path: str | Path, size: int | None = None, md5: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8; converted to RGB (a grayscale file gives three equal channels), and
    resized to size x size when given. With `md5`, a file changed since the scan is refused."""
    return _converted(path, "RGB", size, md5)


def _converted(path: str | Path, mode: str, size: int | None, md5: str | None) -> np.ndarray:
    img = _decoded(path, scanned_bytes(path, md5)).convert(mode)
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)
