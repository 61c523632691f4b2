"""Atomic, durable file output: a reader never sees half a file or half a folder, an interrupted
run loses nothing that was already written, and after a power cut the name holds the old content
or the new, never an empty file (write to a temporary name, fsync it, rename, fsync the folder)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OLD = ".{}.old.tmp"  # the previous folder while atomic_directory's fallback swaps a new one in
_BUILDING: set[str] = set()  # folders atomic_directory is filling: it syncs each whole before its swap


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.
    The data reaches the disk before the rename and the rename before this returns (inside a
    folder that atomic_directory is filling, once for the whole folder: about 4x cheaper than per file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        synced_later = _in_building(path.parent)
        if not synced_later:
            _fsync_file(tmp)
        os.replace(tmp, path)
        if not synced_later:
            _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it replaces `path` whole. At every
    moment `path` is the whole old folder or the whole new one, except between the two renames of
    the fallback swap (_swap_in), when the old one waits whole under OLD for the next call (or
    remove_leftovers) to put back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    _BUILDING.add(os.path.abspath(tmp))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        _fsync_tree(tmp)
        _swap_in(tmp, path)
    finally:
        _BUILDING.discard(os.path.abspath(tmp))
        if tmp.exists():  # the new folder after an error, or the old one after the exchange
            shutil.rmtree(tmp)


def _swap_in(new: Path, path: Path) -> None:
    """Put folder `new` under `path`; an existing `path` ends up under the name `new` (for the
    caller to delete). It is exchanged with `new` in one step where the system can (Linux
    renameat2); elsewhere it waits under OLD while `path` is missing, and leaves OLD before it is
    deleted, so OLD only ever holds the whole old folder."""
    if not os.path.lexists(path):
        os.replace(new, path)
    elif not _exchange(new, path):
        old = path.with_name(OLD.format(path.name))
        os.replace(path, old)
        os.replace(new, path)
        os.replace(old, new)
    _fsync_dir(path.parent)


def _recover(path: Path) -> None:
    """Undo what a kill during an earlier atomic_directory(path) left: put the old folder back if
    the swap was cut between its renames (else drop that copy), and delete unfinished temporary
    folders of `path` (.NAME.XXXXXXXX.tmp, mkdtemp's names)."""
    old = path.with_name(OLD.format(path.name))
    if not _restore_old(path) and old.is_dir():
        shutil.rmtree(old)
    leftover = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    for entry in path.parent.iterdir():
        if leftover.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)


def _restore_old(path: Path) -> bool:
    """Rename OLD back to `path` if `path` is missing: True when it did. OLD is whole then."""
    old = path.with_name(OLD.format(path.name))
    if os.path.lexists(path) or not old.is_dir():
        return False
    os.replace(old, path)
    _fsync_dir(path.parent)
    print(f"restored {path} from {old.name}: a replace of it was interrupted", flush=True)
    return True


def remove_leftovers(folder: str | Path) -> list[str]:
    """Delete what atomic writes interrupted by a hard kill left in `folder` (.NAME.XXXX.tmp files
    and folders); return their names. Run before writing into a DVC output again, so a later
    `dvc commit` versions only real results (.dvcignore also hides these names from DVC). A folder
    whose replace was cut between its renames (.NAME.old.tmp, NAME missing) is put back instead."""
    folder = Path(folder)
    removed = []
    for leftover in sorted(folder.glob(".*.tmp")) if folder.is_dir() else []:
        original = re.fullmatch(r"\.(.+)\.old\.tmp", leftover.name)
        if original and _restore_old(folder / original[1]):
            continue
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        removed.append(leftover.name)
    return removed


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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


# ---- durability ----------------------------------------------------------------------------------


def _in_building(folder: Path) -> bool:
    folder = os.path.abspath(folder)
    return any(folder == d or folder.startswith(d + os.sep) for d in _BUILDING)


def _fsync_file(path: Path) -> None:
    """Flush a closed file's data to the disk, so that a rename cannot outlive its content."""
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)  # Windows syncs writable handles only
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the renames in `folder` durable (POSIX). Skipped where a folder cannot be opened
    (Windows, which needs no such step) or a filesystem refuses to sync one."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, however they were written (cheap for files the
    helpers above already synced)."""
    for root, _, files in os.walk(folder):
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                _fsync_file(Path(root, name))
        _fsync_dir(Path(root))


def _exchange(a: Path, b: Path) -> bool:
    """Swap the entries named `a` and `b` in one atomic step (Linux renameat2 RENAME_EXCHANGE);
    False where the C library, kernel or filesystem cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


@functools.cache
def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no such C library call (glibc < 2.28, some others)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
