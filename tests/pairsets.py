"""Test helpers for training code: tiny in-memory PairSets and a tiny, fast Config."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from thz.config import AugmentConfig, Config, LossConfig, ModelConfig, TrainConfig
from thz.data.dataset import PairSet
from thz.data.naming import format_name

TINY_MODEL = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16)


def make_pairset(identities: int = 4, postures: int = 5, samples: int = 2, size: int = 64, seed: int = 0) -> PairSet:
    """identities x postures x samples random uint8 concealed inputs; targets are 5x5-smoothed inputs."""
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
    return PairSet(inputs, targets, identity, posture, names, paths)


def tiny_config(model: ModelConfig = TINY_MODEL, profile: str = "gentle", seed: int = 0, **train: object) -> Config:
    """2 epochs of P=2 x K=2 batches, validation every epoch, half an epoch of warm-up, no LPIPS."""
    values = dict(epochs=2, identities_per_batch=2, images_per_identity=2, val_every=1.0, warmup_epochs=0.5)
    values.update(train)
    return dataclasses.replace(
        Config(),
        seed=seed,
        model=model,
        train=TrainConfig(**values),
        loss=LossConfig(lpips=0.0),
        augment=AugmentConfig(profile=profile),
    )


def with_visible(pairs: PairSet, seed: int = 7) -> PairSet:
    """The pairset plus visible images (noisy copies of the THz ones, so they carry the identity)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 40, pairs.inputs.shape, generator=g, dtype=torch.uint8)
    return dataclasses.replace(pairs, visible_inputs=pairs.inputs // 2 + noise, visible_targets=pairs.targets // 2)
