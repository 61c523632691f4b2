"""Posture classification scores: accuracy, macro-F1, per-class precision and recall, confusion."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from thz.data.naming import POSTURES


def posture_metrics(truth, predicted) -> dict:
    """`truth`, `predicted`: class indices 0..4 (front, left, right, up, down). Per-class values for
    a class absent from `truth` are 0 (scikit-learn's zero_division=0), and counted in macro-F1."""
    labels = list(range(len(POSTURES)))
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    precision, recall, _, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "support": int(s)}
            for name, p, r, s in zip(POSTURES, precision, recall, support, strict=True)
        },
        "confusion": confusion_matrix(truth, predicted, labels=labels).tolist(),  # rows truth, columns predicted
    }
