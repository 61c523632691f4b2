"""Process-level settings: seeding, CPU threads, numeric precision."""

from __future__ import annotations

import random

import numpy as np
import torch

from thz.config import ConfigError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int) -> int:
    """A seed for one training step, so dropout and augmentation do not depend on how many steps
    ran in this process (a resumed run repeats an uninterrupted one exactly)."""
    return (seed * 1_000_003 + step) % 2**63


def rank_seed(seed: int, step: int, rank: int) -> int:
    """The dropout/masking seed of one training process at one step: step_seed for rank 0 (so one
    process draws exactly what it always did), an independent stream for every other rank (not
    step_seed + rank, which would replay rank 0's draws of a later step)."""
    if rank == 0:
        return step_seed(seed, step)
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0]) % 2**63


def set_threads(threads: int) -> None:
    """0 keeps torch's default (one per core)."""
    if threads > 0:
        torch.set_num_threads(threads)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of train.precision on `device`, None for plain fp32. "auto": fp32 on the
    CPU; on CUDA bf16 where the GPU supports it, else fp16 (which needs a gradient scaler)."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is fp16, which needs a CUDA device (on the CPU use bf16 or fp32)")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
