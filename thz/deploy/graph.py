"""The THz-only network as one graph for deployment: image batch in, embedding, posture logits and
reconstruction out, with the routing the model uses at test time written without Python branches.

At test time the decoder expert is chosen by the network's own posture guess. Training code runs
only the chosen expert on each sample (the batch is partitioned), which an exported graph cannot
express for every batch: tracing a branch or boolean indexing would bake in the experts of the
example batch. Here every expert runs on every sample and a one-hot gate of the predicted posture
selects each sample's output (a soft-routing model mixes them by the posture probabilities, as it
does in PyTorch), so the graph is right for any batch at the cost of running all experts
(bench/deploy.py measures it). Selecting with a 0/1 gate leaves the chosen expert's values exact.
"""

from __future__ import annotations

import torch
from torch import nn

from thz.models import MultiTaskNet

OUTPUTS = ("embedding", "posture_logits", "reconstruction")


class DeployedNet(nn.Module):
    """x (B, 1, H, W) in [0, 1] -> embedding (B, D) L2-normalised, posture_logits (B, 5),
    reconstruction (B, 1, H, W) in [0, 1]; eval mode only (no dropout, BatchNorm statistics)."""

    def __init__(self, model: MultiTaskNet):
        super().__init__()
        if "visible" in model.modalities:
            raise ValueError("a teacher needs visible images: export the student or the baseline")
        self.model = model
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.model
        features = m.encoder(x)
        latent = m.reduction(features[-1])
        emb, logits = m.embedding(latent), m.posture_head(latent)
        if m.routing == "soft":
            gate = logits.softmax(dim=1)
        else:  # the predicted posture's expert, as one-hot weights: (B,) -> (B, E)
            gate = nn.functional.one_hot(logits.argmax(dim=1), len(m.decoder.experts)).to(x.dtype)
        outs = torch.stack([expert(features) for expert in m.decoder.experts], dim=1)  # (B, E, 1, H, W)
        recon = (gate[:, :, None, None, None] * outs).sum(dim=1)
        return emb, logits, recon
