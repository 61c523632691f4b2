"""Did distillation help, and how surely? Paired comparisons of evaluated models.

Identities are the independent units: each per-identity metric (from the evaluate stage's
per_identity.csv, pooled over the cross-validation folds run, where every identity is tested in
one fold only) is compared as the mean per-identity difference (b - a) with a 95 % bootstrap
interval that resamples identities, and a Wilcoxon signed-rank test; posture correctness is also
compared image by image with the exact McNemar test. The metrics of one comparison are one family:
a difference is called significant only when the interval excludes 0 and the rank test's p,
Holm-adjusted over the family, is below 0.05 (the raw p is kept beside it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from thz.config import ConfigError
from thz.data.problems import DataError
from thz.metrics.stats import bootstrap_mean_difference, detectable_difference, holm, mcnemar, wilcoxon_signed_rank

# per-identity column -> (name in the report, True when higher is better)
METRICS = {
    "verification_auc": ("verification AUC", True),
    "verification_eer": ("verification EER", False),
    "verification_tar_at_far_1pct": ("TAR at FAR 1 %", True),
    "enrollment_auc": ("enrolled verification AUC", True),
    "enrollment_rank1": ("enrolled rank-1 identification", True),
    "triplet_correct": ("published triplet accuracy", True),
    "posture_correct": ("posture accuracy", True),
    "ssim_predicted": ("SSIM (predicted routing)", True),
    "ssim_oracle": ("SSIM (oracle routing)", True),
    "psnr_predicted": ("PSNR (predicted routing)", True),
    "mae_predicted": ("MAE (predicted routing)", False),
    "sharpness_gap_predicted": ("sharpness gap |1 - ratio to the true face| (predicted routing)", False),
    "lpips_predicted": ("LPIPS (predicted routing)", False),
    "silhouette": ("silhouette by identity", True),
    "compactness": ("compactness", False),
    "separation": ("separation from the nearest identity", True),
    "davies_bouldin": ("Davies-Bouldin term", False),
}
ALPHA = 0.05
POWER = 0.8  # of the detectable difference each comparison reports
MODELS = ("baseline", "teacher", "student")
PAIRS = (("baseline", "student"), ("baseline", "teacher"), ("student", "teacher"))  # (a, b): b - a
TABLES = (
    "metrics.json",
    "per_identity.csv",
    "per_sample.csv",
    "per_posture.csv",
    "roc.csv",
    "confusion.csv",
    "accepts.csv",
)


def read_evaluations(eval_dir: Path, folds: list[int]) -> dict[tuple[int, str, str], object]:
    """(fold, model, file name) -> the evaluate stage's metrics dict or table, for every fold run."""

    def read(fold: int, model: str, name: str):
        path = eval_dir / f"fold_{fold}" / model / name
        if not path.is_file():
            raise ConfigError(f"'{path}' not found: the evaluate stage has not run (dvc repro evaluate@{fold}-{model})")
        return json.loads(path.read_text()) if name.endswith(".json") else pd.read_csv(path)

    return {(k, m, name): read(k, m, name) for k in folds for m in MODELS for name in TABLES}


@dataclass
class Comparison:
    """Every pair of models compared over the identities of all folds run."""

    folds: list[int]
    metrics: dict[int, dict[str, dict]]  # fold -> model -> the evaluate stage's metrics.json
    per_identity: dict[str, pd.DataFrame]  # model -> pooled over folds
    per_sample: dict[str, pd.DataFrame]
    pairs: dict[str, dict]  # "b_vs_a" -> compare_pair's result


def compare_models(evaluations: dict, folds: list[int], seed: int) -> Comparison:
    per_identity = {
        m: pool_folds({k: evaluations[k, m, "per_identity.csv"] for k in folds}, "identity") for m in MODELS
    }
    per_sample = {m: pool_folds({k: evaluations[k, m, "per_sample.csv"] for k in folds}, "path") for m in MODELS}
    pairs = {f"{b}_vs_{a}": compare_pair(a, b, per_identity, per_sample, seed=seed) for a, b in PAIRS}
    metrics = {k: {m: evaluations[k, m, "metrics.json"] for m in MODELS} for k in folds}
    return Comparison(folds, metrics, per_identity, per_sample, pairs)


def pool_folds(per_fold: dict[int, pd.DataFrame], key: str) -> pd.DataFrame:
    """One model's tables of several folds stacked, with a `fold` column. Folds test disjoint
    identities, so `key` (identity or path) must not repeat: a repeat means mixed-up outputs."""
    pooled = pd.concat([t.assign(fold=k) for k, t in per_fold.items()], ignore_index=True)
    repeated = pooled[pooled.duplicated(key, keep=False)]
    if len(repeated):
        first = repeated.iloc[0][key]
        folds = sorted(repeated[repeated[key] == first].fold)
        raise DataError(f"{key} '{first}' is evaluated in folds {folds}; folds must test disjoint identities")
    return pooled


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p the exact signed-rank test can give with n identities."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def compare_pair(
    a: str,
    b: str,
    per_identity: dict[str, pd.DataFrame],
    per_sample: dict[str, pd.DataFrame],
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict:
    """b against a on the identities (and images) both were evaluated on."""
    ia, ib = per_identity[a].set_index("identity"), per_identity[b].set_index("identity")
    ids = sorted(set(ia.index) & set(ib.index))
    if len(ids) < 2:
        raise DataError(f"{a} and {b} share {len(ids)} evaluated identities; a comparison needs at least 2")
    # pooled folds: resample identities within their fold (a stratified bootstrap)
    strata = ia.loc[ids, "fold"].to_numpy() if "fold" in ia and "fold" in ib else None
    result: dict = {"identities": len(ids)}
    for column, (_, higher) in METRICS.items():
        if column not in ia or column not in ib:
            continue
        x, y = ia.loc[ids, column].to_numpy(float), ib.loc[ids, column].to_numpy(float)
        boot = bootstrap_mean_difference(x, y, n_resamples=n_resamples, seed=seed, strata=strata)
        rank_test = wilcoxon_signed_rank(x, y)
        result[column] = {
            a: float(x.mean()),
            b: float(y.mean()),
            "difference": boot["difference"],
            "ci_low": boot["ci_low"],
            "ci_high": boot["ci_high"],
            "wilcoxon_p": rank_test["p_value"],
            "wilcoxon_method": rank_test["method"],
            "wilcoxon_zeros": rank_test["zeros"],
            "detectable": detectable_difference(x, y, power=POWER, alpha=ALPHA),
            "b_better": bool((boot["difference"] > 0) == higher) if boot["difference"] != 0 else False,
        }
    # the metrics of one comparison are one family: "significant" on Holm-adjusted p
    family = {column: c["wilcoxon_p"] for column, c in result.items() if isinstance(c, dict)}
    for column, adjusted in holm(family).items():
        c = result[column]
        c["wilcoxon_p_holm"] = adjusted
        c["significant"] = bool((c["ci_low"] > 0 or c["ci_high"] < 0) and adjusted < ALPHA)
    sa = per_sample[a].set_index("path")
    sb = per_sample[b].set_index("path")
    paths = sorted(set(sa.index) & set(sb.index))
    test = mcnemar(sa.loc[paths, "posture_correct"].to_numpy(bool), sb.loc[paths, "posture_correct"].to_numpy(bool))
    result["posture_mcnemar"] = {
        f"{a}_only_correct": test["a_only"],
        f"{b}_only_correct": test["b_only"],
        "p_value": test["p_value"],
        "images": test["n"],
        "significant": bool(test["p_value"] < ALPHA),
    }
    return result


def describe(a: str, b: str, comparison: dict) -> list[str]:
    """Plain-language lines for the report, one per metric."""
    n = comparison["identities"]
    lines = []
    for column, (label, _) in METRICS.items():
        if column not in comparison:
            continue
        c = comparison[column]
        if c["significant"]:
            verdict = f"**significant**: {b} is {'better' if c['b_better'] else 'worse'}"
        elif c["ci_low"] > 0 or c["ci_high"] < 0:
            verdict = (
                "not significant (the bootstrap interval excludes 0 but the rank test, Holm-adjusted over "
                "this comparison's metrics, does not confirm it)"
            )
        else:
            verdict = (
                f"not significant (a true difference of {c['detectable']:.4f} or more would have been found "
                f"with {POWER:.0%} probability; smaller ones may be missed)"
            )
        lines.append(
            f"- {label}: {b} {c[b]:.4f} vs {a} {c[a]:.4f}, difference {c['difference']:+.4f} "
            f"(95 % CI {c['ci_low']:+.4f} to {c['ci_high']:+.4f}; Wilcoxon p = {c['wilcoxon_p']:.3f} "
            f"({c['wilcoxon_method']}), Holm-adjusted {c['wilcoxon_p_holm']:.3f}, {n} identities): "
            f"{verdict}."
        )
    m = comparison["posture_mcnemar"]
    lines.append(
        f"- posture, image by image: {m[f'{a}_only_correct']} images right only by {a}, {m[f'{b}_only_correct']} "
        f"only by {b} (exact McNemar p = {m['p_value']:.3f}, {m['images']} images): "
        f"{'**significant**' if m['significant'] else 'not significant'}."
    )
    return lines
