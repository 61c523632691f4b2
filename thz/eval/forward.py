"""One forward pass of evaluation: the network's output on a batch, or with test-time flip that
output averaged with the output on the batch's horizontal mirror.

A face and its mirror are the same person, so a network that treats them differently (its
training images are not flipped) gives two views of one answer; their mean is a cheap ensemble.
The mirror is a second forward pass, not a doubled batch, so a batch's memory stays as it was.
Posture classes and experts are indexed by posture, and a mirrored left face is a right one: the
mirror's logits are read through `MIRRORED_POSTURES`, and its reconstruction is decoded by the
mirrored expert of the direct pass's, then flipped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thz.data.naming import MIRRORED_POSTURES
from thz.models.moe_unet import MoEOutput
from thz.models.multitask import NetOutput

HARD_ROUTINGS = ("oracle", "predicted")  # each sample goes to one expert (MultiTaskNet.routes)


def forward(
    model,
    images: torch.Tensor,
    posture: torch.Tensor,
    visible: torch.Tensor | None,
    decode: bool | int,
    routing: str | None,
    flip: bool = False,
) -> NetOutput:
    """`model(images, posture, decode=..., routing=..., visible=...)`, unchanged without `flip`.
    With `flip`, the images and the visible photos (a teacher's) also go through mirrored, and
    every field is the mean of the two passes (`_averaged`). Under a hard routing both passes
    decode under one posture, the direct pass's expert and its mirror, and the predicted routing
    follows the averaged logits: a sample whose averaged posture differs from the direct pass's
    guess is decoded again under it (oracle routing on the averaged posture, both passes). Soft
    routing gates each pass by its own logits."""
    direct = model(images, posture, decode=decode, routing=routing, visible=visible)
    if not flip:
        return direct
    routing = routing or model.routing
    mirrored = torch.tensor(MIRRORED_POSTURES, device=posture.device)
    n = 0 if decode is False else len(images) if decode is True else int(decode)
    hard = n > 0 and routing in HARD_ROUTINGS
    mirror_posture = mirrored[posture]
    if hard:  # the mirror decoded by the mirror of each direct sample's expert
        experts = model.routes(direct.posture_logits[:n], posture[:n], routing)
        mirror_posture = torch.cat([mirrored[experts], mirror_posture[n:]])
    mirror = model(
        images.flip(-1),
        mirror_posture,
        decode=decode,
        routing="oracle" if hard else routing,
        visible=None if visible is None else visible.flip(-1),
    )
    out = _averaged(direct, mirror, mirrored)
    if hard:
        chosen = model.routes(out.posture_logits[:n], posture[:n], routing)
        moved = (chosen != experts).nonzero().flatten()
        if len(moved):
            part = None if visible is None else visible[moved]
            again = forward(model, images[moved], chosen[moved], part, True, "oracle", flip=True)
            out.recon[moved], out.moe.gate_weights[moved] = again.recon, again.moe.gate_weights
    return out


def _averaged(direct: NetOutput, mirror: NetOutput, mirrored: torch.Tensor) -> NetOutput:
    """The mean of a pass and its mirror's: unit embeddings renormalised (the L2-normalised mean),
    posture-indexed columns (logits, gate weights) of the mirror swapped left for right, and the
    mirror's reconstructions flipped back."""

    def unit(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
        return None if a is None else F.normalize(a + b, dim=1)

    def mean(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
        return None if a is None else (a + b) / 2

    gates = None if direct.moe is None else (direct.moe.gate_weights, mirror.moe.gate_weights[:, mirrored])
    return NetOutput(
        emb=unit(direct.emb, mirror.emb),
        posture_logits=mean(direct.posture_logits, mirror.posture_logits[:, mirrored]),
        recon=mean(direct.recon, None if mirror.recon is None else mirror.recon.flip(-1)),
        moe=None if gates is None else MoEOutput(mean(*gates)),
        latent=mean(direct.latent, mirror.latent),
        identity_emb=unit(direct.identity_emb, mirror.identity_emb),
        twin_emb=unit(direct.twin_emb, mirror.twin_emb),
    )
