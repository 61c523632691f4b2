"""Verification metrics on score sets with known answers, checked against scikit-learn's ROC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from thz.metrics.verification import FARS, compute_eer, cosine_pair_scores, resolves, tar_at_far, verification_metrics


def test_perfect_separation_gives_eer_zero_auc_one():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0])
    genuine = np.array([1, 1, 1, 0, 0, 0], bool)
    m = verification_metrics(scores, genuine)
    assert m["eer"] == 0.0 and m["auc"] == 1.0 and m["tar_at_far_1pct"] == 1.0


def test_random_scores_give_eer_near_half():
    rng = np.random.default_rng(0)
    genuine = rng.random(20000) < 0.3
    m = verification_metrics(rng.random(20000), genuine)
    assert abs(m["eer"] - 0.5) < 0.02 and abs(m["auc"] - 0.5) < 0.02


def test_eer_lies_where_far_equals_frr_on_sklearn_roc():
    rng = np.random.default_rng(1)
    genuine = np.r_[np.ones(500, bool), np.zeros(1500, bool)]
    scores = np.r_[rng.normal(1.0, 1.0, 500), rng.normal(0.0, 1.0, 1500)]
    eer = compute_eer(scores, genuine)
    fpr, tpr, _ = roc_curve(genuine, scores)
    i = np.argmin(np.abs(fpr - (1 - tpr)))
    assert abs(eer - fpr[i]) < 0.01
    # two unit-variance Gaussians one sigma apart: EER = Phi(-0.5) = 0.3085
    assert abs(eer - 0.3085) < 0.03


def test_tar_at_far_hand_case():
    scores = np.array([0.9, 0.6, 0.4, 0.8, 0.3, 0.2, 0.1, 0.05, 0.01, 0.0])
    genuine = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], bool)
    # no impostor accepted: only the 0.9 genuine; one impostor (0.8, FAR 1/7) lets 0.6 and 0.4 in too
    assert tar_at_far(scores, genuine, 0.0) == pytest.approx(1 / 3)
    assert tar_at_far(scores, genuine, 0.10) == pytest.approx(1 / 3)
    assert tar_at_far(scores, genuine, 0.15) == pytest.approx(1.0)


def test_one_class_only_is_refused():
    with pytest.raises(ValueError, match="both genuine and impostor"):
        verification_metrics(np.ones(3), np.ones(3, bool))


def test_cosine_scores():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert np.allclose(cosine_pair_scores(a, a), np.eye(2))


def test_a_far_is_resolved_by_at_least_one_over_far_impostor_comparisons():
    assert resolves(1000, 0.001) and not resolves(999, 0.001)
    assert resolves(100, 0.01) and not resolves(99, 0.01) and resolves(10, 0.1)
    assert set(FARS.values()) == {0.10, 0.01, 0.001}
