"""Identity-balanced batches: P identities x K images each, so every anchor has positives.

The published code wrote such a sampler (8 x 8) and never used it; plain shuffled batches leave
many SupCon anchors without a positive. Batches depend only on (seed, epoch), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
import torch

from thz.config import ConfigError


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


def random_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The published batching: one shuffle of all N pairs per epoch, cut into N // batch_size batches
    (at least one; the remainder is dropped, as identity_batches drops it). Every image still has
    its twin in the batch, but few other images of its identity: the identity SupCon sees fewer
    positives than with P x K batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    size = min(batch_size, n)
    return [torch.from_numpy(order[i * size : (i + 1) * size]) for i in range(max(1, n // size))]


def epoch_batches(identity: torch.Tensor, sampler: str, p: int, k: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch under train.sampler: "identity" (P x K, the default) or "random"
    (shuffled batches of the same size P * K)."""
    if sampler == "random":
        return random_batches(len(identity), p * k, seed, epoch)
    return identity_batches(identity, p, k, seed, epoch)


def batch_notices(identity: torch.Tensor, names: tuple[str, ...], p: int, k: int) -> list[str]:
    """What identity_batches does quietly with these settings, said: P capped at the identities
    there are, K drawn with replacement for identities with fewer than K images."""
    ids, counts = np.unique(identity.numpy(), return_counts=True)
    notes = []
    if p > len(ids):
        notes.append(f"train.identities_per_batch is {p} but the train part has {len(ids)} identities: P={len(ids)}")
    few = [(names[i], int(n)) for i, n in zip(ids, counts, strict=True) if n < k]
    if few:
        listed = ", ".join(f"{name} ({n})" for name, n in few[:5]) + (" ..." if len(few) > 5 else "")
        notes.append(
            f"train.images_per_identity is {k} but {len(few)} identities have fewer images, drawn with "
            f"replacement: {listed}"
        )
    return notes


def rank_rows(batch_size: int, k: int, world_size: int, rank: int) -> slice:
    """The rows of one training process in a global batch from identity_batches: whole identities
    (their K images are adjacent), P / world_size of them, so each process's share keeps the
    P x K guarantee. The caller checks that P divides evenly (see check_rank_split)."""
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


def check_rank_split(n_identities: int, p: int, k: int, world_size: int) -> None:
    """Refuse a batch that cannot be split into whole identities, the same number per process."""
    p = min(p, n_identities)
    if p % world_size:
        raise ConfigError(
            f"train.identities_per_batch: a batch of P={p} identities (x K={k} images) cannot be split evenly "
            f"across {world_size} training processes (THZ_NPROC or torchrun's world size); choose P as a "
            f"multiple of {world_size}"
            + (f" (P is capped at the {n_identities} train identities)" if p == n_identities else "")
        )
