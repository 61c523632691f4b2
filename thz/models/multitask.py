"""The one network of every variant: shared encoder, embedding and posture heads, MoE decoder.

The baseline and the student are this class as built by `build_model`; the teacher is the same
class with a visible encoder and a cross-attention fusion of the two bottlenecks added, so every
head, loss and training step is shared. A THz-only network refuses visible input outright: what
predicts with a student can never depend on a visible image.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from thz.config import ModelConfig, choices
from thz.models.heads import EmbeddingHead, SpatialReduction, scored_embedding
from thz.models.inputs import Inputs
from thz.models.moe_unet import MoEOutput, PostureExperts

ROUTINGS = choices(ModelConfig, "moe_routing")


class NetOutput(NamedTuple):
    emb: torch.Tensor  # (B, D) the embedding verification scores, unit L2 norm (thz.models.heads.scored_embedding)
    posture_logits: torch.Tensor  # (B, 5)
    recon: torch.Tensor | None  # (B, 1, H, W) in [0, 1]; None when decode=False
    moe: MoEOutput | None
    latent: torch.Tensor  # (B, C) reduced bottleneck before dropout (what distillation matches)
    identity_emb: torch.Tensor | None = None  # (B, d) the identity head's unit embedding (emb itself with one head)
    twin_emb: torch.Tensor | None = None  # (B, d) the twin head's unit embedding; None with one head


class MultiTaskNet(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        reduction: SpatialReduction,
        embedding: EmbeddingHead,
        posture_head: nn.Module,
        decoder: PostureExperts,
        routing: str = "predicted",
        visible_encoder: nn.Module | None = None,
        fusion: nn.Module | None = None,
        inputs: Inputs | None = None,
        latent_dropout: float = 0.0,
        modality_dropout: float = 0.0,
        twin_embedding: EmbeddingHead | None = None,
        twin_weight: float = 0.0,
    ):
        super().__init__()
        if routing not in ROUTINGS:
            raise ValueError(f"model.moe_routing must be one of {ROUTINGS}, got {routing!r}")
        inputs = inputs or Inputs()  # THz only
        if not (visible_encoder is None) == (fusion is None) == (inputs.visible is None):
            raise ValueError("a teacher needs a visible encoder, a fusion block and visible inputs (THz only: none)")
        self.encoder, self.reduction, self.embedding = encoder, reduction, embedding
        self.posture_head, self.decoder, self.routing = posture_head, decoder, routing
        self.visible_encoder, self.fusion = visible_encoder, fusion
        self.inputs = inputs  # what it reads: THz only, or THz and a visible photo in its format
        self.latent_dropout = nn.Dropout(latent_dropout)  # one mask shared by both heads
        # teacher, training only: the share of samples that skip the fusion and go THz-only
        self.modality_dropout = modality_dropout
        if (twin_embedding is None) != (twin_weight == 0):
            raise ValueError("a twin head needs a weight > 0 in the score, and a weight needs the head")
        self.twin_embedding, self.twin_weight = twin_embedding, twin_weight

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.inputs.modalities  # what its checkpoint records

    def forward(
        self,
        x: torch.Tensor,
        posture: torch.Tensor | None = None,
        decode: bool | int = True,
        routing: str | None = None,
        visible: torch.Tensor | None = None,
    ) -> NetOutput:
        """x (B, 1, H, W) in [0, 1]; `posture` (B,) true labels, needed by oracle routing (and used
        by predicted routing while training). `decode`: True reconstructs every sample, an int n
        only the first n (the rest are encoded for their embeddings only), False none.
        `routing` overrides the configured one (evaluation reports oracle and predicted).
        `visible` (B, C, s*H, s*W): the visible images of the same captures in this teacher's
        format (`inputs.visible`), for a teacher only; `inputs.pick` takes all three from a batch."""
        if routing is not None and routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        features = self.encoder(x)
        if self.fusion is not None:
            if visible is None:
                raise ValueError("this is a teacher network: it needs the visible images (visible=...)")
            thz = features[-1]
            features[-1] = self.fusion(thz, self.visible_encoder(visible)[-1])
            if self.training and self.modality_dropout > 0:
                # the THz path alone for some samples, so that the easy visible cues of the training
                # identities cannot stand in for THz features
                alone = torch.rand(thz.shape[0], 1, 1, 1, device=thz.device) < self.modality_dropout
                features[-1] = torch.where(alone, thz, features[-1])
        elif visible is not None:
            raise ValueError("this is a THz-only network: it takes no visible images")
        latent = self.reduction(features[-1])
        dropped = self.latent_dropout(latent)
        emb, identity_emb, twin_emb = self.embed(dropped)
        logits = self.posture_head(dropped)
        recon, moe = None, None
        if decode is not False:
            n = x.shape[0] if decode is True else int(decode)
            recon, moe = self._decode(
                [f[:n] for f in features], logits[:n], None if posture is None else posture[:n], routing or self.routing
            )
        return NetOutput(emb, logits, recon, moe, latent, identity_emb, twin_emb)

    def embed(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(scored embedding, identity head's, twin head's or None) of a (dropped-out) latent."""
        identity = self.embedding(latent)
        twin = self.twin_embedding(latent) if self.twin_embedding is not None else None
        return scored_embedding(identity, twin, self.twin_weight), identity, twin

    def _decode(self, features, logits, posture, routing):
        if routing == "soft":
            # the gate follows the posture head but does not train it: posture is its own task
            return self.decoder(features, gate=logits.detach().softmax(dim=1))
        return self.decoder(features, route=self.routes(logits, posture, routing))

    def routes(self, logits: torch.Tensor, posture: torch.Tensor | None, routing: str) -> torch.Tensor:
        """(B,) the expert each sample goes to under a hard routing: oracle takes the true posture,
        predicted the true one in training and the posture head's guess otherwise."""
        use_truth = routing == "oracle" or (routing == "predicted" and self.training)
        if use_truth and posture is None:
            raise ValueError(f"{routing} routing needs the true posture labels")
        return posture if use_truth else logits.argmax(dim=1)
