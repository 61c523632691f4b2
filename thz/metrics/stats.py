"""How sure is a difference between two models? Paired statistics over identities and images.

With a handful of test identities, a difference of a few points can be noise. These functions
take paired values (the same identities, or the same images, scored by two models):
- bootstrap_mean_difference: percentile confidence interval of the mean per-identity difference,
  resampling identities with replacement (identities, not images, are the independent units;
  resample_within draws them, within their fold, for any statistic);
- wilcoxon_signed_rank: the paired rank test on per-identity values (zeros and method stated);
- holm: the family-wise adjustment of a comparison's p-values over its metrics;
- mcnemar: the exact test on paired per-image correctness (posture), from the discordant pairs;
- detectable_difference: the smallest true mean difference the run had a fair chance to find, so
  that "not significant" can be read as "no effect larger than this", not as "no effect".
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-d arrays of one length, got {a.shape} and {b.shape}")
    if not len(a):
        raise ValueError("no paired values")
    return a, b


def bootstrap_mean_difference(
    a, b, n_resamples: int = 10_000, level: float = 0.95, seed: int = 0, strata=None
) -> dict[str, float]:
    """Mean of b - a and its percentile bootstrap interval; a[i], b[i] belong to identity i. With
    `strata` (one label per identity, such as its cross-validation fold), identities are resampled
    within each stratum, so every resample keeps the design's fold sizes."""
    a, b = _paired(a, b)
    diff = b - a
    strata = np.zeros(len(diff), int) if strata is None else np.asarray(strata)
    if strata.shape != diff.shape:
        raise ValueError(f"one stratum per pair expected: {strata.shape} strata for {diff.shape} pairs")
    means = diff[resample_within(strata, n_resamples, seed)].mean(axis=1)
    low, high = percentile_interval(means, level)
    return {"difference": float(diff.mean()), "ci_low": float(low), "ci_high": float(high), "n": len(diff)}


def resample_within(strata, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) indices into n units (one stratum label each, such as an identity's fold),
    each row a bootstrap resample: every stratum's units drawn with replacement from that stratum
    alone, as many as it has, the strata in sorted order. Seeded: the same call draws the same rows."""
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    return np.concatenate([g[rng.integers(0, len(g), size=(n_resamples, len(g)))] for g in groups], axis=1)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap replicates."""
    tail = (1 - level) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


def wilcoxon_signed_rank(a, b, decimals: int = 10) -> dict:
    """Two-sided Wilcoxon signed-rank test of b - a, its handling stated in the result. Differences
    are rounded to `decimals` places first, so that float noise between equal values is a zero, not
    a sign; zeros are then dropped (Wilcoxon's own rule; their count is `zeros`). The null
    distribution is exact for at most 50 non-zero differences without ties in |b - a|, otherwise
    the normal approximation with the tie correction (`method`). p = 1 when every difference is 0."""
    a, b = _paired(a, b)
    diff = np.round(b - a, decimals)
    nonzero = diff[diff != 0]
    result = {"n": len(diff), "zeros": int(len(diff) - len(nonzero))}
    if not len(nonzero):
        return result | {"statistic": 0.0, "p_value": 1.0, "method": "none (every difference is 0)"}
    exact = len(nonzero) <= 50 and len(np.unique(np.abs(nonzero))) == len(nonzero)
    test = stats.wilcoxon(nonzero, alternative="two-sided", method="exact" if exact else "approx")
    method = "exact" if exact else "normal approximation"
    return result | {"statistic": float(test.statistic), "p_value": float(test.pvalue), "method": method}


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values (same keys): the k-th smallest is
    multiplied by (m - k + 1), kept at least as large as the one before, capped at 1. Controls the
    chance of any false 'significant' in the family at the level used, without assuming
    independence between its tests."""
    adjusted, running = {}, 0.0
    order = sorted(p_values, key=p_values.get)
    for k, key in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p_values[key]))
        adjusted[key] = running
    return adjusted


def mcnemar(correct_a, correct_b) -> dict[str, float]:
    """Exact McNemar test on paired booleans: a_only = right by a only, b_only = right by b only;
    two-sided binomial test of b_only against a_only + b_only trials at 1/2."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes differ in shape: {a.shape} and {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    p = 1.0 if a_only + b_only == 0 else float(stats.binomtest(b_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p, "n": int(a.size)}


def detectable_difference(a, b, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true mean per-identity difference a paired two-sided test at level `alpha`
    detects with probability `power`, given the observed spread of b - a over these identities:
    (t[1 - alpha/2] + t[power]) * sd / sqrt(n) with n - 1 degrees of freedom (the paired t-test's
    power; the signed-rank test is about as efficient, 0.955 of it under normality). NaN below 2
    identities, 0 when every identity differs by the same amount."""
    a, b = _paired(a, b)
    n = len(a)
    if n < 2:
        return float("nan")
    sd = float(np.std(b - a, ddof=1))
    t = stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)
    return float(t * sd / np.sqrt(n))
