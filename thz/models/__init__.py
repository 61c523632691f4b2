"""Models: `build_model(cfg.model)` assembles the multi-task network from configuration;
`build_model(cfg.model, cfg.teacher)` the visible+THz teacher around the same parts."""

from __future__ import annotations

from torch import nn

from thz.config import ConfigError, ModelConfig, TeacherConfig
from thz.data.dataset import VisibleFormat
from thz.data.naming import POSTURES
from thz.models.encoder import ENCODERS, ScaledEncoder
from thz.models.fusion import CrossAttentionFusion
from thz.models.heads import EmbeddingHead, SpatialReduction
from thz.models.moe_unet import MoEOutput, PostureExperts
from thz.models.multitask import MultiTaskNet, NetOutput

__all__ = ["MoEOutput", "MultiTaskNet", "NetOutput", "build_model", "count_parameters"]


def build_model(cfg: ModelConfig, teacher: TeacherConfig | None = None) -> MultiTaskNet:
    """The THz-only multi-task network described by `cfg` (baseline and student alike), or with
    `teacher` given, the same network plus a visible encoder and cross-attention fusion."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"model.encoder must be one of {sorted(ENCODERS)}, got {cfg.encoder!r}")
    encoder = ENCODERS[cfg.encoder](cfg.width)
    latent = encoder.channels[-1]
    visible_encoder, fusion, visible = None, None, None
    if teacher is not None:
        if latent % teacher.heads:
            raise ConfigError(f"teacher.heads = {teacher.heads} must divide the bottleneck channels ({latent})")
        visible = VisibleFormat(teacher.visible_colour, teacher.visible_scale, teacher.visible_source)
        if visible.scale & (visible.scale - 1):
            raise ConfigError(f"teacher.visible_scale must be a power of 2 (1, 2, 4, 8), got {visible.scale}")
        if visible.scale == 1:  # the published teacher: the THz encoder's design, its own weights
            visible_encoder = ENCODERS[cfg.encoder](cfg.width, in_channels=visible.channels)
        else:
            visible_encoder = ScaledEncoder(cfg.encoder, cfg.width, visible.channels, visible.scale)
        fusion = CrossAttentionFusion(latent, teacher.heads, teacher.dropout, teacher.positional)
    return MultiTaskNet(
        encoder=encoder,
        reduction=SpatialReduction(latent, cfg.reduction),
        embedding=EmbeddingHead(latent, cfg.embedding_hidden, cfg.embedding_dim, cfg.dropout),
        posture_head=nn.Linear(latent, len(POSTURES)),
        decoder=PostureExperts(encoder.channels, experts=len(POSTURES)),
        routing=cfg.moe_routing,
        visible_encoder=visible_encoder,
        fusion=fusion,
        visible_format=visible,
        latent_dropout=cfg.dropout,
        modality_dropout=teacher.modality_dropout if teacher is not None else 0.0,
        twin_embedding=EmbeddingHead(latent, cfg.embedding_hidden, cfg.embedding_dim, cfg.dropout)
        if cfg.twin_head > 0
        else None,
        twin_weight=cfg.twin_head,
    )


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
