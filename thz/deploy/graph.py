"""The THz-only network as one graph for deployment: image batch in, embedding, posture logits and
reconstruction out, with the routing the model uses at test time expressed in the graph itself.

At test time the decoder expert is chosen by the network's own posture guess. Training code runs
only the chosen expert on each sample (the batch is partitioned), which an exported graph cannot
express for every batch: tracing a Python branch or boolean indexing would bake in the experts of
the example batch. Here each expert sits in a `torch.cond` (an ONNX `If`) that runs it, on the
whole batch, only when some sample's gate selects it; a one-hot gate of the predicted posture then
keeps each sample's own expert output (a soft-routing model mixes them by the posture
probabilities, as it does in PyTorch). So a batch of one posture, every batch of one image
included, runs one decoder; a mixed batch runs the experts it uses. Selecting with a 0/1 gate
leaves the chosen expert's values exact. lab/bench/deploy.py measures the cost.
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
        if model.inputs.visible is not None:
            raise ValueError("a teacher needs visible images: export the student or the baseline")
        self.model = model
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.model
        features = m.encoder(x)
        latent = m.reduction(features[-1])
        emb, logits = m.embed(latent)[0], m.posture_head(latent)
        if m.routing == "soft":
            gate = logits.softmax(dim=1)
        else:  # the predicted posture's expert, as one-hot weights: (B,) -> (B, E)
            gate = nn.functional.one_hot(logits.argmax(dim=1), len(m.decoder.experts)).to(x.dtype)
        recon = torch.zeros_like(x)  # (B, 1, H, W)
        for e, expert in enumerate(m.decoder.experts):
            g = gate[:, e]
            recon = recon + torch.cond(g.sum() > 0, _weighted(expert), _nothing, (g, x, *features))
        return emb, logits, recon


def _weighted(expert: nn.Module):
    def run(g: torch.Tensor, x: torch.Tensor, *features: torch.Tensor) -> torch.Tensor:
        return g[:, None, None, None] * expert(list(features))  # (B, 1, H, W)

    return run


def _nothing(g: torch.Tensor, x: torch.Tensor, *features: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)  # no sample takes this expert
