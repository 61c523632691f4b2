"""Verification scores from genuine and impostor pair similarities: ROC AUC, EER, TAR at FAR."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

# the false accept rates a TAR is reported at (biometrics' usual three), by their key suffix
FARS = {"10pct": 0.10, "1pct": 0.01, "0p1pct": 0.001}


def compute_eer(scores: np.ndarray, genuine: np.ndarray) -> float:
    """Equal error rate: where the false accept rate equals the false reject rate.

    `scores` (N,) similarities (higher means more alike), `genuine` (N,) bool. Linear
    interpolation between the two ROC points that bracket FAR = FRR; 0 for perfectly separated
    scores, about 0.5 for scores unrelated to the labels.
    """
    fpr, tpr, _ = roc_curve(genuine, scores)
    frr = 1 - tpr
    i = int(np.flatnonzero(fpr >= frr)[0])
    if i == 0:
        return float(fpr[0])
    # between points i-1 (fpr < frr) and i (fpr >= frr), find where the difference crosses zero
    d0, d1 = fpr[i - 1] - frr[i - 1], fpr[i] - frr[i]
    t = d0 / (d0 - d1)
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def tar_at_far(scores: np.ndarray, genuine: np.ndarray, far: float) -> float:
    """True accept rate at the largest ROC point whose false accept rate does not exceed `far`."""
    fpr, tpr, _ = roc_curve(genuine, scores)
    return float(tpr[fpr <= far].max())


def resolves(impostors: int, far: float) -> bool:
    """Whether `impostors` comparisons can measure a rate as low as `far`: at least 1 / far of them
    (fewer, and one accepted impostor already exceeds it). A TAR at a FAR they cannot resolve is
    "not measurable" (None), never a number."""
    return impostors >= math.ceil(1 / far)


def verification_metrics(scores: np.ndarray, genuine: np.ndarray) -> dict[str, float]:
    """AUC, EER and TAR at FAR 1 % and 10 % for one set of pair scores."""
    scores, genuine = np.asarray(scores, float), np.asarray(genuine, bool)
    if genuine.all() or not genuine.any():
        raise ValueError("verification needs both genuine and impostor pairs")
    return {
        "auc": float(roc_auc_score(genuine, scores)),
        "eer": compute_eer(scores, genuine),
        "tar_at_far_1pct": tar_at_far(scores, genuine, 0.01),
        "tar_at_far_10pct": tar_at_far(scores, genuine, 0.10),
        "genuine_pairs": int(genuine.sum()),
        "impostor_pairs": int((~genuine).sum()),
    }


def cosine_pair_scores(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(P, G) cosine similarities between rows of probe (P, D) and gallery (G, D)."""
    p = probe / np.linalg.norm(probe, axis=1, keepdims=True).clip(1e-12)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True).clip(1e-12)
    return p @ g.T
