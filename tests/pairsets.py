"""Test helpers for training code: a tiny, fast Config and visible companions for random PairSets
(thz.data.random_pairs)."""

from __future__ import annotations

import dataclasses

import torch

from thz.config import AugmentConfig, Config, LossConfig, ModelConfig, TrainConfig
from thz.data.dataset import PairSet

TINY_MODEL = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16)


def tiny_config(model: ModelConfig = TINY_MODEL, profile: str = "gentle", seed: int = 0, **train: object) -> Config:
    """2 epochs of P=2 x K=2 batches, validation every epoch, half an epoch of warm-up, no LPIPS, fp32
    (precision auto would pick bf16 on some machines only: tests compute the same numbers everywhere;
    tests/train/test_precision.py tests bf16)."""
    values = dict(epochs=2, identities_per_batch=2, images_per_identity=2, val_every=1.0, warmup_epochs=0.5)
    values.update(precision="fp32")
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
