"""Shared test helpers: tiny datasets written as real PNG files in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thz.config import DataConfig
from thz.data.naming import format_name


def write_png(path: Path, size: int = 16, mode: str = "L", seed: int = 0) -> Path:
    """A random image of the given size and PIL mode, saved as PNG (parents created)."""
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, len(mode))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def write_bomb_png(path: Path, width: int = 100_000, height: int = 100_000, mode: str = "L") -> Path:
    """A real PNG whose IHDR header is patched to declare width x height pixels (CRC fixed), as a
    decompression bomb does: PIL refuses it at open with DecompressionBombError, no OSError."""
    import struct
    import zlib

    data = bytearray(write_png(path, mode=mode).read_bytes())
    assert data[12:16] == b"IHDR"  # after the 8-byte signature and the chunk's length
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def write_dataset(
    root: Path,
    identities=("a", "b", "c"),
    postures=range(5),
    samples=(1, 2),
    size: int = 16,
    visible_root: Path | None = None,
    nested: bool = False,
) -> list[Path]:
    """Concealed and unconcealed THz PNGs in the published naming (flat, or nested
    `<identity>/<unit>/<file>.png`), plus RGB visible companions under `visible_root`."""
    written = []
    for i, ident in enumerate(identities):
        for p in postures:
            for k, s in enumerate(samples):
                for concealed in (True, False):
                    name = format_name(ident, p, concealed, s)
                    rel = Path(ident) / "unit1" / name if nested else Path(name)
                    written.append(write_png(root / rel, size, seed=i * 1000 + p * 10 + k))
                    if visible_root is not None:
                        write_png(visible_root / rel, size * 2, mode="RGB", seed=k)
    return written


def record_opened_files(monkeypatch) -> list[str]:
    """Every file path opened from now on by PIL or Path.read_bytes (how THz images are read), for
    tests that a THz-only model never opens a visible photo."""
    import PIL.Image

    opened: list[str] = []
    real_open, real_read = PIL.Image.open, Path.read_bytes

    def spy_open(file, *a, **k):
        if isinstance(file, str | Path):
            opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(PIL.Image, "open", spy_open)
    monkeypatch.setattr(Path, "read_bytes", lambda self: opened.append(str(self)) or real_read(self))
    return opened


def data_config(root: Path, visible_root: Path | None = None, **overrides) -> DataConfig:
    """A DataConfig for a tiny test folder (16 px images)."""
    values = dict(source="folder", dir=str(root), visible_dir=str(visible_root or ""), image_size=16)
    values.update(overrides)
    return DataConfig(**values)


def pytest_configure(config):
    """Under pytest-xdist (`make test`: two workers on two cores), the stage processes a test starts
    take one thread each too, as the workers' own tests do (fixture one_thread): two processes with
    two threads each on two cores run many times slower, not twice."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("THZ_THREADS", "1")


FIRST = ("tests/test_pipeline.py",)  # the longest file (a tiny real dvc repro): started first


def pytest_collection_modifyitems(config, items):
    """The longest test files first, so that under pytest-xdist (`--dist loadfile`) the other worker
    runs the short ones meanwhile instead of waiting on a late start."""
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: tiny convolutions run faster, and every fit reduces in the same order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """3 identities x 5 postures x 2 samples, concealed and unconcealed, 16 px, flat."""
    root = tmp_path / "thz"
    write_dataset(root)
    return root
