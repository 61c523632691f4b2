"""Latent separability of embeddings grouped by identity: is each person a tight cluster, far from
the others? (The published code computed a silhouette against POSTURE labels instead.)

- compactness: mean distance of an embedding to its identity centre (lower is tighter);
- separation: mean and minimum distance between identity centres (higher is further apart);
- ratio: separation_mean / compactness (higher is better);
- silhouette, Davies-Bouldin (lower is better) and Calinski-Harabasz from scikit-learn.
Distances are Euclidean on the embeddings as given (unit vectors for our heads).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score


def separability(embeddings: np.ndarray, labels) -> dict[str, float]:
    x = np.asarray(embeddings, float)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2 or len(classes) >= len(x):
        raise ValueError(
            f"separability needs 2 <= identities < samples, got {len(classes)} identities, {len(x)} samples"
        )
    centres = np.stack([x[labels == c].mean(axis=0) for c in classes])
    index = np.searchsorted(classes, labels)
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
