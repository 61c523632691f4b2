"""Verification decisions at a threshold, and the published triplet-ranking score.

The threshold is chosen on the validation identities (at their equal error rate) and applied
unchanged to the test identities: choosing it on the test set would flatter every model.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve


def eer_threshold(scores, genuine) -> float:
    """The score threshold at the equal error rate of (scores, genuine); accept when score >= it."""
    scores, genuine = np.asarray(scores, float), np.asarray(genuine, bool)
    if genuine.all() or not genuine.any():
        raise ValueError("a threshold needs both genuine and impostor pairs")
    fpr, tpr, thresholds = roc_curve(genuine, scores)
    i = int(np.argmin(np.abs(fpr - (1 - tpr))))
    return float(min(thresholds[i], scores.max()))  # roc_curve's first threshold is +inf


def accuracy_at_threshold(scores, genuine, threshold: float) -> dict[str, float]:
    """Accept when score >= threshold: accuracy over all pairs, balanced accuracy, FAR and FRR."""
    scores, genuine = np.asarray(scores, float), np.asarray(genuine, bool)
    accept = scores >= threshold
    far = float(accept[~genuine].mean()) if (~genuine).any() else float("nan")
    frr = float((~accept[genuine]).mean()) if genuine.any() else float("nan")
    return {
        "accuracy": float((accept == genuine).mean()),
        "balanced_accuracy": 1.0 - 0.5 * (far + frr),
        "far": far,
        "frr": frr,
        "threshold": float(threshold),
    }


def triplet_ranking_accuracy(anchor, positive, negative, margin: float = 0.0) -> float:
    """The published "verification accuracy": the share of triplets with d(a, p) + margin < d(a, n)
    (Euclidean). A ranking score over chosen triplets, not a verification rate at any threshold."""
    anchor, positive, negative = (np.asarray(x, float) for x in (anchor, positive, negative))
    d_ap = np.linalg.norm(anchor - positive, axis=1)
    d_an = np.linalg.norm(anchor - negative, axis=1)
    return float((d_ap + margin < d_an).mean())
