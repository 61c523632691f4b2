"""Models: `build_model(cfg.model)` assembles the multi-task network from configuration;
`build_model(cfg.model, cfg.teacher)` the visible+THz teacher around the same parts;
`rebuild_model` the network a checkpoint records. What each reads is its `inputs` (thz.models.inputs)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from thz.config import Config, ConfigError, ModelConfig, TeacherConfig
from thz.data.naming import POSTURES
from thz.models.encoder import ENCODERS, ScaledEncoder
from thz.models.fusion import CrossAttentionFusion
from thz.models.heads import EmbeddingHead, SpatialReduction
from thz.models.inputs import THZ_AND_VISIBLE, THZ_ONLY, Inputs
from thz.models.moe_unet import MoEOutput, PostureExperts
from thz.models.multitask import MultiTaskNet, NetOutput

__all__ = ["Inputs", "MoEOutput", "MultiTaskNet", "NetOutput", "build_model", "count_parameters", "rebuild_model"]


def build_model(cfg: ModelConfig, teacher: TeacherConfig | None = None) -> MultiTaskNet:
    """The THz-only multi-task network described by `cfg` (baseline and student alike), or with
    `teacher` given, the same network plus a visible encoder and cross-attention fusion."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"model.encoder must be one of {sorted(ENCODERS)}, got {cfg.encoder!r}")
    encoder = ENCODERS[cfg.encoder](cfg.width)
    latent = encoder.channels[-1]
    visible_encoder, fusion, inputs = None, None, Inputs.of(teacher)
    if teacher is not None:
        if latent % teacher.heads:
            raise ConfigError(f"teacher.heads = {teacher.heads} must divide the bottleneck channels ({latent})")
        visible = inputs.visible
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
        inputs=inputs,
        latent_dropout=cfg.dropout,
        modality_dropout=teacher.modality_dropout if teacher is not None else 0.0,
        twin_embedding=EmbeddingHead(latent, cfg.embedding_hidden, cfg.embedding_dim, cfg.dropout)
        if cfg.twin_head > 0
        else None,
        twin_weight=cfg.twin_head,
    )


def rebuild_model(cfg: Config, modalities: Sequence[str]) -> MultiTaskNet:
    """The network whose checkpoint records `modalities` (its `inputs.modalities`): the teacher of
    cfg.teacher, or the THz-only network, so a student's best.pt rebuilds exactly like a baseline's.
    ValueError for a record no network writes."""
    recorded = tuple(modalities)
    if recorded not in (THZ_ONLY, THZ_AND_VISIBLE):
        raise ValueError(
            f"the checkpoint records the inputs {list(recorded)}; a network reads {list(THZ_ONLY)} or "
            f"{list(THZ_AND_VISIBLE)}"
        )
    return build_model(cfg.model, cfg.teacher if recorded == THZ_AND_VISIBLE else None)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
