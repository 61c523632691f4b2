"""The one inference loop: a network over a whole part of the data, for validation during training
and for the evaluate stage alike.

`predict` runs the network in eval mode on what it reads (its `inputs`: THz only for a THz-only
network; a teacher also gets the visible images of the same captures) under each requested MoE
routing: oracle (the true posture picks the expert, the published protocol) and predicted (the
network's own posture, real use). With `flip` (the evaluate stage's eval.flip; validation never
flips) each forward pass also runs on the horizontal mirror (thz.eval.forward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from thz.data.dataset import PairSet
from thz.eval.forward import HARD_ROUTINGS, forward
from thz.metrics.verification import cosine_pair_scores

ROUTINGS = ("oracle", "predicted")


@dataclass
class Predictions:
    """Everything scored later, for N concealed images and their unconcealed targets."""

    identity: np.ndarray  # (N,) identity names
    posture: np.ndarray  # (N,) true posture classes
    paths: tuple[str, ...]  # the concealed inputs
    probe: np.ndarray  # (N, D) embeddings of the concealed inputs
    gallery: np.ndarray  # (N, D) embeddings of their unconcealed targets
    logits: np.ndarray  # (N, 5) posture logits of the concealed inputs
    targets: torch.Tensor  # (N, 1, H, W) unconcealed images in [0, 1]
    recon: dict[str, torch.Tensor]  # routing -> (N, 1, H, W) reconstructions

    @cached_property
    def pair_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Cosine scores of every concealed probe against every unconcealed gallery image, and
        whether each pair is genuine (same identity); both (N, N). Computed once, used by every score."""
        return cosine_pair_scores(self.probe, self.gallery), self.identity[:, None] == self.identity[None, :]


def to_device(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """A batch on `device` (from pinned memory, asynchronously, when that is a GPU), images in NHWC
    layout when `channels_last`."""
    out = {}
    for key, value in batch.items():
        if device.type == "cuda":
            value = value.pin_memory().to(device, non_blocking=True)
        if channels_last and value.dim() == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


@torch.no_grad()
def predict(
    model,
    data: PairSet,
    routings: tuple[str, ...] = ROUTINGS,
    batch_size: int = 128,
    device: torch.device | None = None,
    each_batch: Callable[[object, dict[str, torch.Tensor]], None] | None = None,
    flip: bool = False,
) -> Predictions:
    """The model in eval mode over `data` (its train/eval mode is restored afterwards), each image
    encoded once: the first routing decodes every input, a further hard routing only the inputs it
    sends to another expert (`_rerouted`); no routings: embeddings and posture only, nothing decoded.
    `each_batch(out, batch)` sees the network output of the first routing with its batch
    (validation sums its loss parts there). `flip`: test-time flip, every output the mean of the
    image's and its mirror's (thz.eval.forward.forward)."""
    was_training = model.training
    model.eval()
    probe, gallery, logits, targets = [], [], [], []
    recon: dict[str, list[torch.Tensor]] = {r: [] for r in routings}
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index)
        if device is not None:
            batch = to_device(batch, device, channels_last=False)
        n = len(index)
        images, posture, visible = model.inputs.pick(batch)
        first = routings[0] if routings else None
        out = forward(model, images, posture, visible, decode=n if routings else False, routing=first, flip=flip)
        if each_batch is not None:
            each_batch(out, batch)
        for routing in routings:
            if routing == first:
                recon[routing].append(out.recon.float().cpu())
                continue
            anchors = (images[:n], posture[:n], None if visible is None else visible[:n])
            recon[routing].append(_rerouted(model, out, anchors, first, routing, flip).float().cpu())
        probe.append(out.emb[:n].float().cpu())
        gallery.append(out.emb[n:].float().cpu())
        logits.append(out.posture_logits[:n].float().cpu())
        targets.append(batch["target"].cpu())
    model.train(was_training)
    return Predictions(
        identity=np.asarray(data.identities)[data.identity.numpy()],
        posture=data.posture.numpy(),
        paths=data.paths,
        probe=torch.cat(probe).numpy(),
        gallery=torch.cat(gallery).numpy(),
        logits=torch.cat(logits).numpy(),
        targets=torch.cat(targets),
        recon={r: torch.cat(v) for r, v in recon.items()},
    )


def _rerouted(model, out, anchors: tuple, done: str, routing: str, flip: bool) -> torch.Tensor:
    """The reconstructions of the anchors (images, posture, visible) under `routing`, given `out`,
    the network's output under `done`. In eval mode a sample's reconstruction depends on the
    sample and its expert only (BatchNorm on running statistics, no dropout; with flip, the mirror
    goes to the mirrored expert), so between hard routings only the samples sent to another
    expert are decoded again: with a good posture head, a few. Soft routing mixes every expert:
    decoded in full."""
    images, posture, visible = anchors
    if done not in HARD_ROUTINGS or routing not in HARD_ROUTINGS:
        return forward(model, images, posture, visible, decode=True, routing=routing, flip=flip).recon
    logits = out.posture_logits[: len(images)]
    moved = (model.routes(logits, posture, routing) != model.routes(logits, posture, done)).nonzero().flatten()
    recon = out.recon.clone()
    if len(moved):
        part = None if visible is None else visible[moved]
        recon[moved] = forward(model, images[moved], posture[moved], part, True, routing, flip).recon
    return recon
