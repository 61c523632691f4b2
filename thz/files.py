"""Atomic file output: a reader never sees half a file, and an interrupted run loses nothing
that was already written (write to a temporary name, then os.replace)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it replaces `path` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def remove_leftovers(folder: str | Path) -> list[str]:
    """Delete what atomic writes interrupted by a hard kill left in `folder` (.NAME.XXXX.tmp files
    and folders); return their names. Run before writing into a DVC output again, so a later
    `dvc commit` versions only real results (.dvcignore also hides these names from DVC)."""
    folder = Path(folder)
    removed = []
    for leftover in sorted(folder.glob(".*.tmp")) if folder.is_dir() else []:
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        removed.append(leftover.name)
    return removed


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Pretty, key-sorted JSON (stable diffs for `dvc metrics diff` and git)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_png(path: str | Path, array: np.ndarray) -> None:
    """Save a uint8 (H, W) grayscale or (H, W, 3) RGB array as PNG, atomically."""
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: expected a uint8 image array, got {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
