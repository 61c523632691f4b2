"""Latent separability of embeddings grouped by identity: is each person a tight cluster, far from
the others? (The published code computed a silhouette against POSTURE labels instead.)

- compactness: mean distance of an embedding to its identity centre (lower is tighter);
- separation: mean and minimum distance between identity centres (higher is further apart);
- ratio: separation_mean / compactness (higher is better);
- silhouette, Davies-Bouldin (lower is better) and Calinski-Harabasz from scikit-learn.
Distances are Euclidean on the embeddings as given (unit vectors for our heads).

`per_identity_separability` splits the same quantities by identity, so that two models can be
compared identity by identity with paired statistics (the published claim is about separability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_samples, silhouette_score


def _grouped(embeddings: np.ndarray, labels):
    """(x, labels, classes, index of each row's class, class centres), checked once for both views."""
    x = np.asarray(embeddings, float)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2 or len(classes) >= len(x):
        raise ValueError(
            f"separability needs 2 <= identities < samples, got {len(classes)} identities, {len(x)} samples"
        )
    index = np.searchsorted(classes, labels)
    centres = np.stack([x[index == i].mean(axis=0) for i in range(len(classes))])
    return x, labels, classes, index, centres


def separability(embeddings: np.ndarray, labels) -> dict[str, float]:
    x, labels, _, index, centres = _grouped(embeddings, labels)
    compactness = float(np.linalg.norm(x - centres[index], axis=1).mean())
    between = pdist(centres)
    return {
        "compactness": compactness,
        "separation_mean": float(between.mean()),
        "separation_min": float(between.min()),
        "separation_to_compactness": float(between.mean() / max(compactness, 1e-12)),
        "silhouette": float(silhouette_score(x, labels)),
        "davies_bouldin": float(davies_bouldin_score(x, labels)),
        "calinski_harabasz": float(calinski_harabasz_score(x, labels)),
    }


def per_identity_separability(embeddings: np.ndarray, labels) -> pd.DataFrame:
    """One row per identity: `silhouette` (mean silhouette of its embeddings), `compactness` (mean
    distance to its centre), `separation` (distance from its centre to the nearest other centre) and
    `davies_bouldin` (its Davies-Bouldin term, max over others of (s_i + s_j) / d_ij; the index is
    the mean of these terms)."""
    x, labels, classes, index, centres = _grouped(embeddings, labels)
    spread = np.array([np.linalg.norm(x[index == i] - centres[i], axis=1).mean() for i in range(len(classes))])
    between = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.fill_diagonal(between, np.inf)
    silhouettes = silhouette_samples(x, labels)
    return pd.DataFrame(
        {
            "identity": classes,
            "silhouette": [float(silhouettes[index == i].mean()) for i in range(len(classes))],
            "compactness": spread,
            "separation": between.min(axis=1),
            "davies_bouldin": ((spread[:, None] + spread[None]) / between).max(axis=1),
        }
    )
