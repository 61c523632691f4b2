"""Self-describing checkpoints: state dicts plus plain config values, written atomically and read
with `torch.load(weights_only=True)` (no pickled code runs when a checkpoint is opened)."""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from thz.config import Config, ConfigError, config_from_dict, without_moved
from thz.files import atomic_path

FORMAT_VERSION = 1


class CheckpointError(ConfigError):
    """A file is not a readable thz checkpoint (empty, truncated, another program's); the message
    names it. A ConfigError, so a stage ends with the message (thz.cli.run), not a traceback."""


def save_checkpoint(path: str | Path, **content: Any) -> None:
    """torch.save of {format_version, **content} via a temporary file and os.replace. Saved through a
    file object: given a path, torch.save names the archive after the (random temporary) file, so
    equal weights would give different bytes and different DVC hashes in every clone."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(_canonical({"format_version": FORMAT_VERSION, **content}), handle)


def _canonical(value: Any) -> Any:
    """The same content as the same bytes: pickle writes an object once and then refers to it, so
    a string that is one object in an uninterrupted run (the optimiser's and the config's "lr") but
    two after a resume (unpickled strings are new objects) gave a resumed last.pt other bytes, another
    DVC hash, and invalidated the stages reading it. Every string interned, containers rebuilt."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        items = ((_canonical(k), _canonical(v)) for k, v in value.items())
        copy = OrderedDict(items) if isinstance(value, OrderedDict) else dict(items)
        if hasattr(value, "_metadata"):  # a state dict's module versions, read by load_state_dict
            copy._metadata = _canonical(value._metadata)
        return copy
    if isinstance(value, list | tuple):
        return type(value)(_canonical(v) for v in value)
    return value


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, read without running pickled code. A missing file is a
    FileNotFoundError; anything torch cannot read as a weights-only archive, or that lacks our
    format version, is a CheckpointError naming the file (torch's own message would advise
    weights_only=False, which would run whatever code the file holds)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by damage
        size = path.stat().st_size
        raise CheckpointError(
            f"{path}: not a readable thz checkpoint ({size} bytes; empty, truncated or not written by thz: "
            f"{type(err).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a thz checkpoint of format {FORMAT_VERSION}")
    return ckpt


def load_model(path: str | Path):
    """Rebuild the network from the checkpoint's own config and what it records the network read
    (thz.models.rebuild_model), and load its weights (strict); what it reads is then its `inputs`."""
    from thz.models import rebuild_model

    ckpt = load_checkpoint(path)
    cfg: Config = config_from_dict(without_moved(ckpt["config"]), source=str(path))
    model = rebuild_model(cfg, ckpt.get("modalities", ["thz"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg
