"""Process-level settings: seeding and CPU threads."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int) -> int:
    """A seed for one training step, so dropout and augmentation do not depend on how many steps
    ran in this process (a resumed run repeats an uninterrupted one exactly)."""
    return (seed * 1_000_003 + step) % 2**63


def set_threads(threads: int) -> None:
    """0 keeps torch's default (one per core)."""
    if threads > 0:
        torch.set_num_threads(threads)
