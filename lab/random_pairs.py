"""A PairSet of random images, no files needed: for benchmarks and tests, where what the images
show does not matter but their shapes, labels and batching do."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thz.data.dataset import PairSet, VisibleFormat
from thz.data.naming import format_name


def make_pairset(
    identities: int = 4,
    postures: int = 5,
    samples: int = 2,
    size: int = 64,
    seed: int = 0,
    visible: VisibleFormat | None = None,
) -> PairSet:
    """identities x postures x samples random uint8 concealed inputs; targets are 5x5-smoothed
    inputs; with `visible`, random visible companions of both in that format (what a teacher
    trains on)."""
    generator = torch.Generator().manual_seed(seed)
    n = identities * postures * samples
    inputs = torch.randint(0, 256, (n, 1, size, size), generator=generator, dtype=torch.uint8)
    targets = F.avg_pool2d(inputs.float(), 5, stride=1, padding=2, count_include_pad=False).round().to(torch.uint8)
    identity = torch.arange(identities).repeat_interleave(postures * samples)
    posture = torch.arange(postures).repeat_interleave(samples).repeat(identities)
    names = tuple(f"id{i}" for i in range(identities))
    paths = tuple(
        format_name(names[i], p, True, s) for i in range(identities) for p in range(postures) for s in range(samples)
    )
    pairs = PairSet(inputs, targets, identity, posture, names, paths)
    if visible:
        shape = (n, visible.channels, size * visible.scale, size * visible.scale)
        pairs.visible_inputs = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        pairs.visible_targets = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    return pairs
