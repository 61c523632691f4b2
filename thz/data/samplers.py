"""Identity-balanced batches: P identities x K images each, so every anchor has positives.

The published code wrote such a sampler (8 x 8) and never used it; plain shuffled batches leave
many SupCon anchors without a positive. Batches depend only on (seed, epoch), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
import torch


def identity_batches(identity: torch.Tensor, p: int, k: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch: N // (P*K) batches (at least one), each P distinct identities
    with K indices of each (drawn without replacement, with replacement only when an identity has
    fewer than K images). P is capped at the number of identities."""
    ids = identity.numpy()
    groups = [np.flatnonzero(ids == i) for i in np.unique(ids)]
    p = min(p, len(groups))
    rng = np.random.default_rng([seed, epoch])
    batches = []
    for _ in range(max(1, len(ids) // (p * k))):
        chosen = rng.choice(len(groups), size=p, replace=False)
        index = [rng.choice(groups[g], size=k, replace=len(groups[g]) < k) for g in chosen]
        batches.append(torch.from_numpy(np.concatenate(index)))
    return batches
