"""Evaluation metrics on cases with known answers: posture scores, separability of synthetic
clusters of known geometry, the grouping helper against a hand count, and the paired statistics
on data with a known effect and with none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thz.metrics.decisions import accuracy_at_threshold, eer_threshold, triplet_ranking_accuracy
from thz.metrics.grouping import group_means
from thz.metrics.posture import posture_metrics
from thz.metrics.separability import per_identity_separability, separability
from thz.metrics.stats import bootstrap_mean_difference, detectable_difference, holm, mcnemar, wilcoxon_signed_rank

# --- posture ---------------------------------------------------------------------------------------


def test_posture_metrics_on_a_hand_made_confusion():
    truth = [0, 0, 0, 1, 1, 2, 3, 4, 4, 4]
    pred = [0, 0, 1, 1, 1, 2, 3, 4, 4, 0]
    m = posture_metrics(truth, pred)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["confusion"][0] == [2, 1, 0, 0, 0] and m["confusion"][4] == [1, 0, 0, 0, 2]
    front = m["per_class"]["front"]
    assert front == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "support": 3}
    assert m["per_class"]["left"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["left"]["recall"] == 1.0
    f1 = [2 / 3, 0.8, 1.0, 1.0, 0.8]  # per class: 2PR / (P + R)
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert sum(map(sum, m["confusion"])) == len(truth)


# --- separability ----------------------------------------------------------------------------------


def _clusters(centres, radius, per_class=4):
    """Each class: points at +-radius along each axis around its centre (exact distance radius)."""
    points, labels = [], []
    for c, centre in enumerate(centres):
        for k in range(per_class):
            offset = np.zeros(len(centre))
            offset[k // 2] = radius if k % 2 == 0 else -radius
            points.append(np.asarray(centre, float) + offset)
            labels.append(c)
    return np.array(points), np.array(labels)


def test_separability_of_clusters_with_known_geometry():
    x, y = _clusters([(0, 0), (10, 0), (0, 10)], radius=1.0)
    m = separability(x, y)
    assert m["compactness"] == pytest.approx(1.0)  # every point at distance 1 from its centre
    assert m["separation_min"] == pytest.approx(10.0)
    assert m["separation_mean"] == pytest.approx((10 + 10 + 10 * np.sqrt(2)) / 3)
    assert m["separation_to_compactness"] == pytest.approx(m["separation_mean"])
    assert m["silhouette"] > 0.8 and m["davies_bouldin"] < 0.3


def test_tighter_and_further_clusters_score_better():
    loose = separability(*_clusters([(0, 0), (4, 0), (0, 4)], radius=2.0))
    tight = separability(*_clusters([(0, 0), (4, 0), (0, 4)], radius=0.5))
    far = separability(*_clusters([(0, 0), (40, 0), (0, 40)], radius=2.0))
    assert tight["compactness"] < loose["compactness"] and far["separation_mean"] > loose["separation_mean"]
    for better in (tight, far):
        assert better["silhouette"] > loose["silhouette"]
        assert better["davies_bouldin"] < loose["davies_bouldin"]
        assert better["calinski_harabasz"] > loose["calinski_harabasz"]


def test_per_identity_separability_by_hand_and_against_the_pooled_scores():
    x, y = _clusters([(0, 0), (10, 0), (0, 10)], radius=1.0)
    table = per_identity_separability(x, y)
    assert table.identity.tolist() == [0, 1, 2]
    assert table.compactness.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert table.separation.tolist() == pytest.approx([10.0, 10.0, 10.0])  # each centre's nearest other
    assert table.davies_bouldin.tolist() == pytest.approx([0.2, 0.2, 0.2])  # (1 + 1) / 10
    pooled = separability(x, y)  # equal class sizes: the pooled scores are the means of the terms
    assert table.davies_bouldin.mean() == pytest.approx(pooled["davies_bouldin"])
    assert table.silhouette.mean() == pytest.approx(pooled["silhouette"])
    # one identity made loose: only its own row (and its neighbours' Davies-Bouldin terms) change
    x2, _ = _clusters([(0, 0), (10, 0), (0, 10)], radius=1.0)
    x2[:4] *= 3.0  # identity 0 spread around (0, 0) at radius 3
    loose = per_identity_separability(x2, y)
    assert loose.compactness[0] == pytest.approx(3.0) and loose.silhouette[0] < table.silhouette[0]


def test_separability_needs_two_identities():
    with pytest.raises(ValueError, match="identities"):
        separability(np.zeros((4, 2)), [1, 1, 1, 1])


# --- grouping --------------------------------------------------------------------------------------


def test_group_means_against_a_hand_count():
    table = pd.DataFrame(
        {
            "identity": ["a", "a", "b", "b", "b", "c"],
            "posture": ["front", "left", "front", "front", "up", "up"],
            "ssim": [0.5, 0.7, 0.2, 0.4, 0.9, np.nan],
            "correct": [1, 0, 1, 1, 0, 1],
        }
    )
    by_id = group_means(table, "identity", ["ssim", "correct"]).set_index("identity")
    assert by_id.loc["a"].tolist() == pytest.approx([2, 0.6, 0.5])
    assert by_id.loc["b"].tolist() == pytest.approx([3, 0.5, 2 / 3])
    assert by_id.loc["c", "n"] == 1 and np.isnan(by_id.loc["c", "ssim"])
    by_posture = group_means(table, "posture", ["correct"]).set_index("posture")
    assert by_posture["n"].to_dict() == {"front": 3, "left": 1, "up": 2}
    with pytest.raises(KeyError, match="psnr"):
        group_means(table, "identity", ["psnr"])


# --- paired statistics -----------------------------------------------------------------------------


def test_bootstrap_interval_excludes_zero_for_a_clear_effect_and_covers_it_without():
    rng = np.random.default_rng(0)
    a = rng.normal(0.7, 0.05, 20)
    effect = bootstrap_mean_difference(a, a + 0.1 + rng.normal(0, 0.01, 20))
    assert effect["difference"] == pytest.approx(0.1, abs=0.01)
    assert 0 < effect["ci_low"] < 0.1 < effect["ci_high"]
    none = bootstrap_mean_difference(a, a + rng.normal(0, 0.05, 20))
    assert none["ci_low"] < 0 < none["ci_high"]
    same = bootstrap_mean_difference(a, a)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0


def test_bootstrap_is_seeded():
    a, b = np.arange(5.0), np.arange(5.0) + np.array([0.1, -0.3, 0.2, 0.0, 0.5])
    assert bootstrap_mean_difference(a, b, seed=3) == bootstrap_mean_difference(a, b, seed=3)


def test_stratified_bootstrap_resamples_within_each_fold():
    """Two folds whose differences are constant inside each fold: resampling within folds can only
    give the overall mean, while ignoring the folds mixes them and gives a wide interval."""
    a = np.zeros(10)
    b = np.r_[np.full(5, 0.1), np.full(5, 0.3)]
    folds = np.r_[np.zeros(5), np.ones(5)]
    within = bootstrap_mean_difference(a, b, n_resamples=2000, strata=folds)
    assert within["difference"] == pytest.approx(0.2)
    assert within["ci_low"] == pytest.approx(0.2) and within["ci_high"] == pytest.approx(0.2)
    mixed = bootstrap_mean_difference(a, b, n_resamples=2000)
    assert mixed["ci_low"] < 0.17 and mixed["ci_high"] > 0.23
    assert bootstrap_mean_difference(a, b, strata=np.zeros(10)) == bootstrap_mean_difference(a, b)  # one stratum
    with pytest.raises(ValueError, match="one stratum per pair"):
        bootstrap_mean_difference(a, b, strata=folds[:4])


def test_wilcoxon_detects_a_consistent_shift_and_not_noise():
    a = np.linspace(0.5, 0.9, 12)
    assert wilcoxon_signed_rank(a, a + 0.05)["p_value"] < 0.001  # 12 equal positive differences (tied: normal approx.)
    rng = np.random.default_rng(1)
    assert wilcoxon_signed_rank(a, a + rng.normal(0, 0.05, 12))["p_value"] > 0.05
    assert wilcoxon_signed_rank(a, a)["p_value"] == 1.0


def test_detectable_difference_by_hand_and_by_simulation():
    a = np.zeros(10)
    b = np.array([1.0, -1.0] * 5)  # differences of sd sqrt(10/9)
    expected = (2.2622 + 0.8834) * np.sqrt(10 / 9) / np.sqrt(10)  # t quantiles, 9 degrees of freedom
    assert detectable_difference(a, b) == pytest.approx(expected, rel=1e-3)
    assert detectable_difference(a, b + 5) == pytest.approx(expected, rel=1e-3)  # a shift changes nothing
    assert detectable_difference(a, a + 0.3) == pytest.approx(0.0, abs=1e-12)  # every identity moves alike
    assert np.isnan(detectable_difference([0.0], [1.0]))
    # a true effect of exactly that size (sd 1, 10 identities) is found in about 80 % of runs
    rng = np.random.default_rng(0)
    effect = (2.2622 + 0.8834) / np.sqrt(10)
    found = [stats.ttest_rel(rng.normal(effect, 1, 10), np.zeros(10)).pvalue < 0.05 for _ in range(4000)]
    assert 0.76 < np.mean(found) < 0.84


def test_mcnemar_counts_discordant_pairs_and_tests_them_exactly():
    a = np.array([1, 1, 1, 0, 0, 0, 1, 0, 1, 1], bool)
    b = np.array([1, 1, 0, 1, 1, 1, 1, 1, 1, 1], bool)
    m = mcnemar(a, b)
    assert (m["a_only"], m["b_only"]) == (1, 4)
    assert m["p_value"] == pytest.approx(2 * (1 + 5) / 32)  # two-sided binomial, 5 trials, <= 1 success
    assert mcnemar(a, a)["p_value"] == 1.0
    many = mcnemar(np.zeros(40, bool), np.ones(40, bool))
    assert many["p_value"] < 1e-10


# --- decisions ---------------------------------------------------------------------------------


def test_eer_threshold_splits_separable_scores_and_balances_errors():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    genuine = np.array([0, 0, 0, 1, 1, 1], bool)
    t = eer_threshold(scores, genuine)
    assert 0.3 < t <= 0.7
    assert accuracy_at_threshold(scores, genuine, t) == {
        "accuracy": 1.0,
        "balanced_accuracy": 1.0,
        "far": 0.0,
        "frr": 0.0,
        "threshold": t,
    }
    rng = np.random.default_rng(0)
    noisy_g, noisy_i = rng.normal(1, 1, 2000), rng.normal(0, 1, 2000)
    t = eer_threshold(np.r_[noisy_g, noisy_i], np.r_[np.ones(2000, bool), np.zeros(2000, bool)])
    assert t == pytest.approx(0.5, abs=0.1)  # two unit Gaussians one apart: EER at the midpoint


def test_accuracy_at_a_fixed_threshold_by_hand():
    scores = np.array([0.9, 0.4, 0.6, 0.2, 0.7])
    genuine = np.array([1, 1, 0, 0, 0], bool)
    m = accuracy_at_threshold(scores, genuine, 0.5)  # accepts 0, 2, 4
    assert m["accuracy"] == pytest.approx(2 / 5)
    assert m["far"] == pytest.approx(2 / 3) and m["frr"] == pytest.approx(1 / 2)
    assert m["balanced_accuracy"] == pytest.approx(1 - 0.5 * (2 / 3 + 1 / 2))


def test_triplet_ranking_accuracy_with_and_without_margin():
    anchor = np.zeros((3, 2))
    positive = np.array([[1.0, 0], [0, 2.0], [3.0, 0]])
    negative = np.array([[2.0, 0], [0, 2.1], [1.0, 0]])
    assert triplet_ranking_accuracy(anchor, positive, negative) == pytest.approx(2 / 3)
    assert triplet_ranking_accuracy(anchor, positive, negative, margin=0.2) == pytest.approx(1 / 3)


def test_wilcoxon_rounds_float_noise_to_zero_drops_zeros_and_states_its_method():
    a = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    b = a + np.array([0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.0, 0.0]) + 1e-13  # two zeros up to float noise
    result = wilcoxon_signed_rank(a, b)
    assert result["zeros"] == 2 and result["method"] == "exact"
    assert result["p_value"] == pytest.approx(2 / 2**6)  # six positive differences, exact: 2 / 2^6
    tied = wilcoxon_signed_rank(a, a + np.array([0.1, 0.1, 0.2, 0.2, -0.1, 0.3, 0.4, 0.5]))
    assert tied["method"] == "normal approximation" and 0 < tied["p_value"] < 1  # ties: no exact distribution
    assert wilcoxon_signed_rank(a, a + 1e-14)["method"].startswith("none")


def test_holm_multiplies_the_k_th_smallest_by_m_minus_k_plus_1_and_stays_monotonic():
    adjusted = holm({"auc": 0.01, "eer": 0.04, "tar": 0.03, "ssim": 0.5})
    assert adjusted == pytest.approx({"auc": 0.04, "tar": 0.09, "eer": 0.09, "ssim": 0.5})
    assert holm({"x": 0.6, "y": 0.5}) == {"x": 1.0, "y": 1.0}  # capped at 1, never below an earlier one
