"""Models: `build_model(cfg.model)` assembles the multi-task network from configuration."""

from __future__ import annotations

from torch import nn

from thz.config import ModelConfig
from thz.data.naming import POSTURES
from thz.models.encoder import ENCODERS
from thz.models.heads import EmbeddingHead, SpatialReduction
from thz.models.moe_unet import MoEOutput, PostureExperts
from thz.models.multitask import MultiTaskNet, NetOutput

__all__ = ["MoEOutput", "MultiTaskNet", "NetOutput", "build_model", "count_parameters"]


def build_model(cfg: ModelConfig) -> MultiTaskNet:
    """The THz-only multi-task network described by `cfg` (baseline and student alike)."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"model.encoder must be one of {sorted(ENCODERS)}, got {cfg.encoder!r}")
    encoder = ENCODERS[cfg.encoder](cfg.width)
    latent = encoder.channels[-1]
    return MultiTaskNet(
        encoder=encoder,
        reduction=SpatialReduction(latent, cfg.reduction, cfg.dropout),
        embedding=EmbeddingHead(latent, cfg.embedding_hidden, cfg.embedding_dim, cfg.dropout),
        posture_head=nn.Linear(latent, len(POSTURES)),
        decoder=PostureExperts(encoder.channels, experts=len(POSTURES)),
        routing=cfg.moe_routing,
    )


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
