"""Resume is a normal path: THZ_RESUME=1 (thz.runtime.Execution) continues from last.pt, refusing
params that would make the continued run a different run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thz.checkpoint import CheckpointError, load_checkpoint
from thz.config import Config, ConfigError, config_to_dict, without_moved
from thz.distributed import Workers, share_from_main


@dataclass(frozen=True)
class Params:
    """The params of one run as its checkpoints keep them: all of them (`values`, plain: load_model
    rebuilds the network from them) and the sections and dotted keys the run reads (`reads`, e.g.
    thz.train.variants.Variant.reads), which must be as they were when it resumes."""

    values: dict[str, Any]
    reads: tuple[str, ...]

    @classmethod
    def of(cls, cfg: Config, reads: tuple[str, ...] | None = None) -> Params:
        """`cfg`'s params; `reads` None: the run reads every one of them."""
        values = config_to_dict(cfg)
        return cls(values, tuple(values) if reads is None else tuple(reads))


def read_last(path: Path, workers: Workers) -> dict | None:
    """last.pt as rank 0 reads it, on every rank (other nodes need not see rank 0's disk); None
    when there is none yet."""
    ckpt = None
    if workers.is_main:
        if path.exists():
            try:
                ckpt = load_checkpoint(path)
            except CheckpointError as err:
                raise CheckpointError(f"{err}; cannot resume from it: delete it to train from step 0") from None
        else:
            print(f"THZ_RESUME=1 but {path} does not exist: training from step 0", flush=True)
    return share_from_main(ckpt)


def check_resumable(stored: dict, params: Params, path: Path) -> None:
    """Refuse to resume under params that would make the continued run a different run: a key the
    run reads whose value differs from the interrupted run's (how it executes is no param:
    thz.runtime.Execution). A key missing from the stored config (written before the key existed)
    counts as its default; stored keys in their old places are read in their new ones (without_moved)."""
    before, defaults = _flat(without_moved(stored)), _flat(config_to_dict(Config()))
    differ = [
        key
        for key, value in _flat(params.values).items()
        # a key the checkpoint predates had its default value then
        if _read(key, params.reads) and before.get(key, defaults.get(key)) != value
    ]
    if differ:
        raise ConfigError(f"{path}: cannot resume, these params differ from the interrupted run: {', '.join(differ)}")


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} as {"train.lr": 0.1}, at any depth."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _read(key: str, reads: tuple[str, ...]) -> bool:
    return any(key == entry or key.startswith(f"{entry}.") for entry in reads)
