"""Test helpers for training code: a tiny, fast Config, fit and a Run on it as a training stage
would start them, and visible companions for random PairSets (lab.random_pairs)."""

from __future__ import annotations

import dataclasses

import torch

from thz.config import AugmentConfig, Budget, BudgetConfig, Config, LossConfig, ModelConfig, TrainConfig
from thz.data.dataset import PairSet
from thz.train.loop import FitResult, Run, fit
from thz.train.variants import VARIANTS

TINY_MODEL = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16)
BUDGET_KEYS = tuple(f.name for f in dataclasses.fields(Budget))


def tiny_config(model: ModelConfig = TINY_MODEL, profile: str = "gentle", seed: int = 0, **train: object) -> Config:
    """2 epochs of P=2 x K=2 batches, validation every epoch, half an epoch of warm-up, no LPIPS, fp32
    (precision auto would pick bf16 on some machines only: tests compute the same numbers everywhere;
    tests/train/test_precision.py tests bf16). `train`: train.* keys, and budget keys (epochs,
    pretrain_epochs, ...) for every model's budget alike."""
    values = dict(identities_per_batch=2, images_per_identity=2, val_every=1.0, warmup_epochs=0.5)
    values.update(precision="fp32")
    budget = dict(epochs=2)
    for key, value in train.items():
        (budget if key in BUDGET_KEYS else values)[key] = value
    each = Budget(**budget)
    return dataclasses.replace(
        Config(),
        seed=seed,
        model=model,
        train=TrainConfig(**values),
        budget=BudgetConfig(baseline=each, teacher=each, student=each),
        loss=LossConfig(lpips=0.0),
        augment=AugmentConfig(profile=profile),
    )


def fit_with(
    objective, train: PairSet, val: PairSet, cfg: Config, out, variant: str = "baseline", **options
) -> FitResult:
    """thz.train.loop.fit as stage train_<variant> calls it under `cfg`: its training config, its
    plan, its params."""
    declared = VARIANTS[variant]
    return fit(objective, train, val, cfg.train, declared.plan(cfg), out, params=declared.params(cfg), **options)


def start_run(objective, cfg: Config, workers=None, variant: str = "baseline") -> Run:
    """The Run a fit of `variant` under `cfg` starts (for tests of single steps)."""
    return Run.start(objective, cfg.train, VARIANTS[variant].plan(cfg), workers)


def with_visible(pairs: PairSet, seed: int = 7) -> PairSet:
    """The pairset plus visible images (noisy copies of the THz ones, so they carry the identity)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 40, pairs.inputs.shape, generator=g, dtype=torch.uint8)
    return dataclasses.replace(pairs, visible_inputs=pairs.inputs // 2 + noise, visible_targets=pairs.targets // 2)
