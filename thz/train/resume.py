"""Resume is a normal path: THZ_RESUME=1 (thz.runtime.Execution) continues from last.pt, refusing
params that would make the continued run a different run."""

from __future__ import annotations

from pathlib import Path

from thz.checkpoint import CheckpointError, load_checkpoint
from thz.config import Config, ConfigError, config_to_dict
from thz.distributed import Workers, share_from_main


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


def check_resumable(stored: dict, cfg: Config, path: Path, unread: tuple[str, ...] = ()) -> None:
    """Refuse to resume under params that would make the continued run a different run (how it
    executes is no param: thz.runtime.Execution). `unread`: sections or dotted keys this run does not
    read (the teacher ignores distill.*) may differ. A key missing from the stored config (written
    before the key existed) counts as its default; a stored key no longer in the config is ignored."""
    may_differ = set(unread)
    current, defaults = config_to_dict(cfg), config_to_dict(Config())
    differ = [
        f"{section}.{key}"
        for section, values in current.items()
        if isinstance(values, dict) and section not in unread
        for key, value in values.items()
        # a key the checkpoint predates had its default value then
        if f"{section}.{key}" not in may_differ and stored.get(section, {}).get(key, defaults[section][key]) != value
    ]
    differ += [key for key, value in current.items() if not isinstance(value, dict) and stored.get(key) != value]
    if differ:
        raise ConfigError(f"{path}: cannot resume, these params differ from the interrupted run: {', '.join(differ)}")
