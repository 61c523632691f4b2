"""One training step of a variant on a synthetic global batch, alone or as one of the processes of
`torchrun -m tests.ddp_step VARIANT OUT`; rank 0 saves the logged loss parts and the (rank-averaged)
gradients to OUT. tests/test_distributed.py compares the two."""

from __future__ import annotations

import dataclasses
import sys

import torch

from lab.random_pairs import make_pairset
from tests.pairsets import start_run, tiny_config, with_visible
from thz.config import PUBLISHED_VISIBLE, DistillConfig, ModelConfig, TeacherConfig
from thz.data.samplers import identity_batches
from thz.distributed import start, stop
from thz.losses.objective import DistillationObjective, MultiTaskObjective
from thz.models import build_model
from thz.train.loop import train_step

MODEL = ModelConfig(width=8, embedding_hidden=32, embedding_dim=16, dropout=0.0)  # no dropout: no per-rank draws
TEACHER = TeacherConfig(heads=4, dropout=0.0, **PUBLISHED_VISIBLE)


def main(variant: str, out: str) -> None:
    workers = start("cpu")
    cfg = dataclasses.replace(
        # NCHW: oneDNN's NHWC convolutions choose kernels by batch size, so half a batch rounds differently
        tiny_config(model=MODEL, identities_per_batch=4, images_per_identity=3, channels_last=False),
        teacher=TEACHER,
        distill=DistillConfig(),
    )
    data = with_visible(make_pairset(identities=6, postures=5, samples=2, size=64, seed=3))
    torch.manual_seed(0)
    model = build_model(cfg.model, TEACHER if variant == "teacher" else None)
    objective = MultiTaskObjective(model, cfg.loss)
    if variant == "student":
        objective = DistillationObjective(objective, build_model(cfg.model, TEACHER), cfg.distill)
    run = start_run(objective, cfg, workers)
    model.train()
    batch = data.batch(identity_batches(data.identity, 4, 3, seed=0, epoch=0)[0])
    parts = train_step(objective, batch, 0, 0.0, run)  # lr 0: the gradients stay readable
    if workers.is_main:
        grads = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in run.parameters])
        torch.save({"parts": parts, "grads": grads, "world_size": workers.world_size}, out)
    stop(workers)


if __name__ == "__main__":
    main(*sys.argv[1:])
